# A single-node Kafka broker image for hosts that cannot pull the official apache/kafka image: Debian's Java and the
# broker jars from Maven Central. It reads the same KAFKA_* environment variables and CLUSTER_ID as the official image,
# and keeps its layout (/opt/kafka, /var/lib/kafka/data), so docker-compose.yaml runs either.
# scripts/docker-kafka-image.sh builds it from a context holding libs/ (scripts/kafka-fetch.sh) and kafka-run.sh.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG KAFKA_VERSION
# openjdk's postinst links man pages into /usr/share/man/man1, which slim images leave out.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/man/man1 \
 && groupadd --system --gid 1000 appuser \
 && useradd --system --uid 1000 --gid appuser --home-dir /opt/kafka --shell /usr/sbin/nologin appuser \
 && install -d -o appuser -g appuser /opt/kafka/config /var/lib/kafka/data
COPY libs/ /opt/kafka/libs/
COPY kafka-run.sh /opt/kafka/bin/kafka-run.sh
RUN printf '%s\n' 'log4j.rootLogger=INFO, stdout' 'log4j.appender.stdout=org.apache.log4j.ConsoleAppender' \
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout' \
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n' \
      'log4j.logger.kafka=INFO' 'log4j.logger.org.apache.kafka=INFO' 'log4j.logger.state.change.logger=WARN' \
      >/opt/kafka/config/log4j.properties
ENV KAFKA_VERSION=${KAFKA_VERSION}
USER 1000:1000
WORKDIR /opt/kafka
EXPOSE 9092
VOLUME /var/lib/kafka/data
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
ENTRYPOINT ["/opt/kafka/bin/kafka-run.sh"]
