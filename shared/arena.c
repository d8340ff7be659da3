/* arena.c -- the per-thread request arena, also behind cJSON's allocation hooks (see arena.h). */
#include "arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfx.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ARENA_POISON(p, n)   ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A 2 KiB webhook with its events, decisions and response takes about 16 KiB; larger requests go on in
 * malloc'd memory. */
#define ARENA_SIZE  (64 * 1024)
#define ARENA_ALIGN 16

typedef struct arena {
	char *mem;
	size_t used;
	bool active;
	bool spilled; /* since arena_begin, an allocation did not fit and was malloc'd */
} arena;

static __thread arena tls_arena;
static bool installed;
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static bool owns(const arena *a, const void *p)
{
	return a->mem && (uintptr_t)p >= (uintptr_t)a->mem && (uintptr_t)p < (uintptr_t)a->mem + ARENA_SIZE;
}

void *arena_alloc(size_t n)
{
	arena *a = &tls_arena;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (!a->active)
		return rfx_malloc(n);
	if (need < n || need > ARENA_SIZE - a->used) {
		a->spilled = true;
		return rfx_malloc(n);
	}
	void *p = a->mem + a->used;
	a->used += need;
	ARENA_UNPOISON(p, n);
	return p;
}

void *arena_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		abort();
	void *p = arena_alloc(n * size);
	memset(p, 0, n * size);
	return p;
}

char *arena_strndup(const char *s, size_t n)
{
	char *p = arena_alloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *arena_grow(void *p, size_t old, size_t n)
{
	if (!p)
		return arena_alloc(n);
	if (!owns(&tls_arena, p))
		return rfx_realloc(p, n);
	void *q = arena_alloc(n);
	memcpy(q, p, old < n ? old : n);
	return q;
}

void arena_free(void *p)
{
	if (!owns(&tls_arena, p))
		free(p);
}

static void arena_release(void *mem)
{
	free(mem);
}

static void install(void)
{
	if (pthread_key_create(&arena_key, arena_release))
		return;
	cJSON_Hooks h = {.malloc_fn = arena_alloc, .free_fn = arena_free};
	cJSON_InitHooks(&h);
	installed = true;
}

void arena_init(void)
{
	pthread_once(&arena_once, install);
}

void arena_begin(void)
{
	arena *a = &tls_arena;
	if (!installed)
		return;
	if (!a->mem) {
		a->mem = rfx_malloc(ARENA_SIZE);
		ARENA_POISON(a->mem, ARENA_SIZE);
		pthread_setspecific(arena_key, a->mem); /* freed when the thread ends */
	}
	a->active = true;
}

void arena_end(void)
{
	tls_arena.active = false;
}

void arena_reset(void)
{
	arena *a = &tls_arena;
	a->active = a->spilled = false;
	if (a->mem)
		ARENA_POISON(a->mem, a->used);
	a->used = 0;
}

bool arena_keeps(const void *p)
{
	return owns(&tls_arena, p) && !tls_arena.spilled;
}

void arena_json_delete(cJSON *j)
{
	if (!arena_keeps(j))
		cJSON_Delete(j);
}

size_t arena_used(void)
{
	return tls_arena.used;
}

bool arena_owns(const void *p)
{
	return owns(&tls_arena, p);
}
