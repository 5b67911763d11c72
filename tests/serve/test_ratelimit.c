/* test_ratelimit.c - what ratelimit.c promises: a full bucket allows a burst, then refills at
 * the rate; Retry-After is whole seconds, at least 1; buckets are independent; a clock going
 * back adds nothing; concurrent takers never get more than the bucket holds. */
#include <pthread.h>
#include <stdatomic.h>

#include "ml_test.h"
#include "serve/ratelimit.h"

#define SEC 1000000000ull

static void test_ratelimit__burst_then_refill(void) {
    ml__ratelimit *rl = NULL;
    CHECK_STATUS(ml__ratelimit_new(&rl, 2, 2.0, 3.0), ML_OK);
    if (!rl) return;
    unsigned retry = 0;
    uint64_t t = 5 * SEC;
    for (int i = 0; i < 3; i++) CHECK(ml__ratelimit_take(rl, 0, t, &retry));
    CHECK(!ml__ratelimit_take(rl, 0, t, &retry));
    CHECK_EQ_INT(retry, 1); /* 1 request at 2/s: 0.5 s, rounded up to 1 */
    CHECK(!ml__ratelimit_take(rl, 0, t + SEC / 4, &retry));
    CHECK(ml__ratelimit_take(rl, 0, t + SEC / 2, &retry)); /* refilled one */
    CHECK(!ml__ratelimit_take(rl, 0, t + SEC / 2, &retry));
    /* a long pause refills to the burst, never beyond */
    uint64_t later = t + 100 * SEC;
    for (int i = 0; i < 3; i++) CHECK(ml__ratelimit_take(rl, 0, later, &retry));
    CHECK(!ml__ratelimit_take(rl, 0, later, &retry));
    ml__ratelimit_free(rl);
}

static void test_ratelimit__buckets_are_independent(void) {
    ml__ratelimit *rl = NULL;
    CHECK_STATUS(ml__ratelimit_new(&rl, 3, 1.0, 0.0), ML_OK); /* burst 0: max(1, rate) = 1 */
    if (!rl) return;
    unsigned retry = 0;
    CHECK(ml__ratelimit_take(rl, 0, SEC, &retry));
    CHECK(!ml__ratelimit_take(rl, 0, SEC, &retry));
    CHECK(ml__ratelimit_take(rl, 1, SEC, &retry));
    CHECK(ml__ratelimit_take(rl, 2, SEC, &retry));
    retry = 0;
    CHECK(!ml__ratelimit_take(rl, 3, SEC, &retry)); /* no such bucket */
    CHECK_EQ_INT(retry, 1);
    ml__ratelimit_free(rl);
}

static void test_ratelimit__retry_after_in_whole_seconds(void) {
    ml__ratelimit *rl = NULL;
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, 0.1, 1.0), ML_OK); /* one every 10 s */
    if (!rl) return;
    unsigned retry = 0;
    CHECK(ml__ratelimit_take(rl, 0, SEC, &retry));
    CHECK(!ml__ratelimit_take(rl, 0, SEC, &retry));
    CHECK_EQ_INT(retry, 10);
    CHECK(!ml__ratelimit_take(rl, 0, 4 * SEC, &retry));
    CHECK_EQ_INT(retry, 7);
    CHECK(ml__ratelimit_take(rl, 0, 11 * SEC, &retry));
    ml__ratelimit_free(rl);
}

static void test_ratelimit__clock_going_back_adds_nothing(void) {
    ml__ratelimit *rl = NULL;
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, 1.0, 1.0), ML_OK);
    if (!rl) return;
    unsigned retry = 0;
    CHECK(ml__ratelimit_take(rl, 0, 10 * SEC, &retry));
    CHECK(!ml__ratelimit_take(rl, 0, 2 * SEC, &retry));
    CHECK(!ml__ratelimit_take(rl, 0, 10 * SEC, &retry)); /* still empty at the old time */
    CHECK(ml__ratelimit_take(rl, 0, 11 * SEC, &retry));
    ml__ratelimit_free(rl);
}

static void test_ratelimit__refuses_bad_settings(void) {
    ml__ratelimit *rl = NULL;
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, 0.0, 1.0), ML_EINVAL);
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, -1.0, 1.0), ML_EINVAL);
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, NAN, 1.0), ML_EINVAL);
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, INFINITY, 1.0), ML_EINVAL);
    CHECK_STATUS(ml__ratelimit_new(&rl, 1, 5.0, 0.5), ML_EINVAL);
    CHECK_ERR_CONTAINS("burst");
    CHECK(rl == NULL);
    ml__ratelimit_free(NULL);
}

typedef struct taker {
    ml__ratelimit *rl;
    atomic_int allowed;
} taker;

static void *take_many(void *arg) {
    taker *t = arg;
    unsigned retry = 0;
    for (int i = 0; i < 1000; i++)
        if (ml__ratelimit_take(t->rl, 0, 7 * SEC, &retry)) atomic_fetch_add(&t->allowed, 1);
    return NULL;
}

static void test_ratelimit__concurrent_takers_share_one_bucket(void) {
    taker t = {NULL, 0};
    CHECK_STATUS(ml__ratelimit_new(&t.rl, 1, 1.0, 1500.0), ML_OK);
    if (!t.rl) return;
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, take_many, &t);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK_EQ_INT(atomic_load(&t.allowed), 1500); /* 4000 tries, a bucket of 1500, no refill */
    ml__ratelimit_free(t.rl);
}

int main(void) {
    RUN(test_ratelimit__burst_then_refill);
    RUN(test_ratelimit__buckets_are_independent);
    RUN(test_ratelimit__retry_after_in_whole_seconds);
    RUN(test_ratelimit__clock_going_back_adds_nothing);
    RUN(test_ratelimit__refuses_bad_settings);
    RUN(test_ratelimit__concurrent_takers_share_one_bucket);
    TEST_MAIN_END();
}
