# The stack test's remediation target and probe: sshd for the action handler to log in to (host key and authorized
# key come from swarm secrets), kcat to read the stack's Kafka audit topic from inside the stack's network.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server kcat >/dev/null \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* \
 && useradd --create-home --shell /bin/sh remediation && usermod -p '*' remediation \
 && install -d -m 0755 /run/sshd \
 && printf '%s\n' 'HostKey /run/secrets/target_host_key' 'AuthorizedKeysFile /run/secrets/target_authorized_keys' \
      'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'PermitRootLogin no' 'UsePAM no' \
      'AllowUsers remediation' 'LogLevel VERBOSE' >/etc/ssh/sshd_config.d/target.conf
EXPOSE 22
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["sh", "-c", "kill -0 \"$(cat /run/sshd.pid)\""]
CMD ["/usr/sbin/sshd", "-D", "-e"]
