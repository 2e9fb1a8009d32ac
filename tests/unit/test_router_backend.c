/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_backend.c - backend registry ids, health state machine, model lists,
 * retirement with references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "router/backend.h"

static void test_ids_and_find(void **state)
{
    struct kv_backend_set set;
    struct kv_backend *a, *b, *c;
    (void)state;
    kv_backend_set_init(&set, 2, 1);
    a = kv_backend_set_add(&set, "a:1", "a", 1, false);
    b = kv_backend_set_add(&set, "b:1", "b", 1, false);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->id, 0);
    assert_int_equal(b->id, 1);
    assert_null(kv_backend_set_add(&set, "a:1", "a", 1, false)); /* duplicate */
    assert_ptr_equal(kv_backend_set_find(&set, "b:1"), b);
    assert_true(kv_backend_set_retire(&set, a)); /* no refs: free now */
    kv_backend_free(a);
    assert_int_equal(set.n, 1);
    assert_null(kv_backend_set_find(&set, "a:1"));
    c = kv_backend_set_add(&set, "c:1", "c", 1, true);
    assert_int_equal(c->id, 0); /* lowest free id reused */
    assert_true(c->from_dns);
    assert_ptr_equal(set.items[0], b); /* insertion order kept */
    assert_ptr_equal(set.items[1], c);
    kv_backend_set_cleanup(&set);
}

static void test_retire_with_refs(void **state)
{
    struct kv_backend_set set;
    struct kv_backend *a;
    (void)state;
    kv_backend_set_init(&set, 1, 1);
    a = kv_backend_set_add(&set, "a:1", "a", 1, false);
    kv_backend_probe(&set, a, true, NULL, 1);
    kv_backend_ref(a);
    kv_backend_ref(a);
    assert_false(kv_backend_set_retire(&set, a));
    assert_false(kv_backend_is_routable(a)); /* retired: no new requests */
    assert_int_equal(set.n, 0);
    assert_false(kv_backend_unref(a));
    assert_true(kv_backend_unref(a));
    kv_backend_free(a);
    kv_backend_set_cleanup(&set);
}

static void test_state_machine(void **state)
{
    struct kv_backend_set set;
    struct kv_backend *a, *b;
    (void)state;
    kv_backend_set_init(&set, 2, 2);
    a = kv_backend_set_add(&set, "a:1", "a", 1, false);
    assert_int_equal(a->state, KV_BACKEND_NEW);
    assert_false(kv_backend_is_routable(a));
    /* A fresh backend is up after one good probe. */
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 10), KV_BACKEND_WENT_UP);
    assert_true(kv_backend_is_routable(a));
    assert_int_equal(kv_backend_set_up(&set), 1);
    /* fall = 2: one failure is tolerated, the second ejects. */
    assert_int_equal(kv_backend_probe(&set, a, false, "timeout", 20), KV_BACKEND_SAME);
    assert_true(kv_backend_is_routable(a));
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 25), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, false, "timeout", 30), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, false, "refused", 40), KV_BACKEND_WENT_DOWN);
    assert_string_equal(a->last_error, "refused");
    assert_int_equal(a->state_ns, 40);
    /* rise = 2 to come back, and a failure in between restarts the count. */
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 50), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, false, "x", 60), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 70), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 80), KV_BACKEND_WENT_UP);
    assert_string_equal(a->last_error, "");
    /* Passive failure ejects at once. */
    assert_int_equal(kv_backend_passive_fail(&set, a, "HTTP 500", 90), KV_BACKEND_WENT_DOWN);
    assert_int_equal(a->failures, 1);
    assert_int_equal(kv_backend_passive_fail(&set, a, "HTTP 500", 95), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 100), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&set, a, true, NULL, 110), KV_BACKEND_WENT_UP);
    /* A fresh backend failing its first probe is down, but that is no fall. */
    b = kv_backend_set_add(&set, "b:1", "b", 1, false);
    assert_int_equal(kv_backend_probe(&set, b, false, "refused", 10), KV_BACKEND_SAME);
    assert_int_equal(b->state, KV_BACKEND_DOWN);
    assert_string_equal(kv_backend_state_name(b->state), "down");
    kv_backend_set_cleanup(&set);
}

static void test_models(void **state)
{
    static const char body[] =
        "{\"object\":\"list\",\"data\":[{\"id\":\"meta-llama/Llama-3.2-1B\",\"object\":\"model\","
        "\"root\":\"x\",\"permission\":[{\"id\":\"p\"}]},{\"id\":\"lora-a\"},{\"id\":\"\"},"
        "{\"x\":1}]}";
    struct kv_backend_set set;
    struct kv_backend *a;
    (void)state;
    kv_backend_set_init(&set, 1, 1);
    a = kv_backend_set_add(&set, "a:1", "a", 1, false);
    assert_true(kv_backend_serves(a, "anything", 8)); /* unknown yet */
    assert_int_equal(kv_backend_set_models_json(a, body, strlen(body)), 2);
    assert_string_equal(a->models[0], "meta-llama/Llama-3.2-1B");
    assert_string_equal(a->models[1], "lora-a");
    assert_true(kv_backend_serves(a, "lora-a", 6));
    assert_false(kv_backend_serves(a, "lora-ab", 7));
    assert_false(kv_backend_serves(a, "lora", 4));
    assert_true(kv_backend_serves(a, NULL, 0)); /* default model */
    /* Bad shapes leave the list as it was. */
    assert_int_equal(kv_backend_set_models_json(a, "{\"data\":{}}", 11), KV_EPROTO);
    assert_int_equal(kv_backend_set_models_json(a, "[1,2", 4), KV_EPROTO);
    assert_int_equal(kv_backend_set_models_json(a, "", 0), KV_EPROTO);
    assert_int_equal(a->nmodels, 2);
    assert_int_equal(kv_backend_set_models_json(a, "{\"data\":[]}", 11), 0);
    assert_false(kv_backend_serves(a, "lora-a", 6));
    kv_backend_set_cleanup(&set);
}

static void test_capacity(void **state)
{
    struct kv_backend_set set;
    char name[32];
    (void)state;
    kv_backend_set_init(&set, 1, 1);
    for (int i = 0; i < KV_BACKEND_MAX; i++) {
        snprintf(name, sizeof(name), "h%d:1", i);
        assert_non_null(kv_backend_set_add(&set, name, "h", 1, true));
    }
    assert_null(kv_backend_set_add(&set, "one-more:1", "h", 1, true));
    assert_int_equal(set.n, KV_BACKEND_MAX);
    kv_backend_set_cleanup(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_find),   cmocka_unit_test(test_retire_with_refs),
        cmocka_unit_test(test_state_machine),  cmocka_unit_test(test_models),
        cmocka_unit_test(test_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
