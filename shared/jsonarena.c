/* jsonarena.c -- per-thread bump arena behind cJSON's allocation hooks (see jsonarena.h). */
#include "jsonarena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "rfx.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ARENA_POISON(p, n)   ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A 2 KiB webhook parses into about 8 KiB of nodes and strings; larger bodies go on in malloc'd memory. */
#define ARENA_SIZE  (64 * 1024)
#define ARENA_ALIGN 16

typedef struct arena {
	char *mem;
	size_t used;
	bool active;
} arena;

static __thread arena tls_arena;
static bool installed;
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static bool owns(const arena *a, const void *p)
{
	return a->mem && (uintptr_t)p >= (uintptr_t)a->mem && (uintptr_t)p < (uintptr_t)a->mem + ARENA_SIZE;
}

static void *arena_alloc(size_t n)
{
	arena *a = &tls_arena;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (!a->active || need < n || need > ARENA_SIZE - a->used)
		return malloc(n);
	void *p = a->mem + a->used;
	a->used += need;
	ARENA_UNPOISON(p, n);
	return p;
}

static void arena_free(void *p)
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

void jsonarena_init(void)
{
	pthread_once(&arena_once, install);
}

void jsonarena_begin(void)
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

void jsonarena_end(void)
{
	tls_arena.active = false;
}

void jsonarena_reset(void)
{
	arena *a = &tls_arena;
	a->active = false;
	if (a->mem)
		ARENA_POISON(a->mem, a->used);
	a->used = 0;
}

size_t jsonarena_used(void)
{
	return tls_arena.used;
}

bool jsonarena_owns(const void *p)
{
	return owns(&tls_arena, p);
}
