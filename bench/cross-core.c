// What sharing a cache line between this machine's two cores costs (docs/performance.md, "What a
// line shared by both cores costs"): the round trip of a flag between two threads pinned to cores
// 0 and 1, and the time to write N KB that the other core has (or has not) just read, and to read
// N KB that the other core has just written.
//   cc -O2 -march=native -pthread bench/cross-core.c -o /tmp/cross-core && /tmp/cross-core 128
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pin(int core) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(core, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

enum { TRIPS = 1000000, ROUNDS = 2000 };
static _Alignas(64) atomic_int flag;
static float *buf;
static size_t n;
static int reads;
static double readTime;

static void *pong(void *arg) {
  (void)arg;
  pin(1);
  for (int i = 0; i < TRIPS; i++) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&flag, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  pin(1);
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < ROUNDS; i++) {
    while (atomic_load(&flag) != 2 * i + 1) {
    }
    double t0 = now();
    if (reads)
      for (size_t j = 0; j < n; j += 16) acc = _mm512_add_ps(acc, _mm512_load_ps(buf + j));
    readTime += now() - t0;
    atomic_store(&flag, 2 * i + 2);
  }
  if (_mm512_reduce_add_ps(acc) == -1.0f) puts("");
  return NULL;
}

/** Writes n floats per round; the other core reads them between rounds where `reads`. */
static void writes(int withReads) {
  pthread_t t;
  reads = withReads;
  readTime = 0;
  atomic_store(&flag, 0);
  pthread_create(&t, NULL, reader, NULL);
  double writeTime = 0;
  for (int i = 0; i < ROUNDS; i++) {
    double t0 = now();
    for (size_t j = 0; j < n; j += 16) _mm512_store_ps(buf + j, _mm512_set1_ps((float)i));
    writeTime += now() - t0;
    atomic_store(&flag, 2 * i + 1);
    while (atomic_load(&flag) != 2 * i + 2) {
    }
  }
  pthread_join(t, NULL);
  printf("%zu KB written %s: %.1f µs a round", n / 256, withReads ? "after the other core read them" : "by this core alone",
         writeTime / ROUNDS * 1e6);
  if (withReads) printf("; read by the other core after the write: %.1f µs", readTime / ROUNDS * 1e6);
  printf("\n");
}

int main(int argc, char **argv) {
  n = (size_t)(argc > 1 ? atoi(argv[1]) : 128) * 256;
  buf = aligned_alloc(64, n * sizeof(float));
  for (size_t j = 0; j < n; j++) buf[j] = 1;
  pin(0);
  pthread_t t;
  pthread_create(&t, NULL, pong, NULL);
  double t0 = now();
  for (int i = 0; i < TRIPS; i++) {
    atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
    while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2) {
    }
  }
  double trip = (now() - t0) / TRIPS;
  pthread_join(t, NULL);
  printf("a flag's round trip between cores 0 and 1: %.0f ns\n", trip * 1e9);
  writes(0);
  writes(1);
  return 0;
}
