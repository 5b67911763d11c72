/* test_join.c - what join.c promises: raw-ID matching (and, keyed, label pseudonyms against a
 * table of pseudonyms), sorted classes with the positive class last, groups numbered by first
 * appearance, and the unmatched IDs on both sides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/table.h"
#include "microlens/labels.h"
#include "microlens/pseudonym.h"
#include "ml_test.h"

/* A table with the given sample IDs and one feature, every value 1. */
static ml_table *table_of(const char *const *ids, size_t n) {
    ml__table_builder *tb = NULL;
    ml_table *t = NULL;
    size_t idx, dup, f;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    if (ml__tb_add_feature(tb, "otu1", 4, NULL, &f, &dup) != ML_OK) goto fail;
    for (size_t i = 0; i < n; i++) {
        if (ml__tb_add_sample(tb, ids[i], strlen(ids[i]), &idx, &dup) != ML_OK) goto fail;
        if (ml__tb_add_value(tb, idx, f, 1.0) != ML_OK) goto fail;
    }
    if (ml__tb_finish(tb, "test", "tsv", "test table", &t) != ML_OK) return NULL;
    return t;
fail:
    ml__tb_free(tb);
    return NULL;
}

static ml_labels *labels_of(const char *text) {
    ml_labels *l = NULL;
    CHECK_STATUS(ml_labels_parse(&l, text, strlen(text), "labels.csv", NULL), ML_OK);
    return l;
}

static void test_join__matches_raw_ids_both_ways(void) {
    const char *ids[] = {"s3", "s1", "s9", "s2"};
    ml_table *t = table_of(ids, 4);
    ml_labels *l = labels_of("sid,label\ns1,Vaginal\ns2,Cesarean\ns3,Vaginal\ns7,Cesarean\n"
                             "s8,Vaginal\n");
    ml_join *j = NULL;
    CHECK(t && l);
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, NULL), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_samples(j), 4);
    CHECK_EQ_INT(ml_join_n_classes(j), 2);
    CHECK_STR(ml_join_class_name(j, 0), "Cesarean");
    CHECK_STR(ml_join_class_name(j, 1), "Vaginal");
    CHECK_STR(ml_join_positive(j), "Vaginal");
    CHECK_EQ_INT(ml_join_class_of(j, 0), 1); /* s3 */
    CHECK_EQ_INT(ml_join_class_of(j, 1), 1); /* s1 */
    CHECK_EQ_INT(ml_join_class_of(j, 2), -1); /* s9: no label row */
    CHECK_EQ_INT(ml_join_class_of(j, 3), 0); /* s2 */
    CHECK_EQ_INT(ml_join_class_count(j, 0), 1);
    CHECK_EQ_INT(ml_join_class_count(j, 1), 2);
    CHECK_EQ_INT(ml_join_n_samples_without_label(j), 1);
    CHECK_EQ_INT(ml_join_n_labels_without_sample(j), 2);
    CHECK_EQ_INT(ml_join_label_without_sample(j, 0), 3); /* s7 */
    CHECK_EQ_INT(ml_join_label_without_sample(j, 1), 4); /* s8 */
    CHECK_EQ_INT(ml_join_n_groups(j), 0);
    CHECK_EQ_INT(ml_join_group_of(j, 0), -1);
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__named_positive_moves_last(void) {
    const char *ids[] = {"a", "b", "c", "d"};
    ml_table *t = table_of(ids, 4);
    ml_labels *l = labels_of("sid,label\na,CD\nb,UC\nc,IBS\nd,CD\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, "CD"), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_classes(j), 3);
    CHECK_STR(ml_join_class_name(j, 0), "IBS");
    CHECK_STR(ml_join_class_name(j, 1), "UC");
    CHECK_STR(ml_join_class_name(j, 2), "CD");
    CHECK_STR(ml_join_positive(j), "CD");
    CHECK_EQ_INT(ml_join_class_of(j, 0), 2);
    CHECK_EQ_INT(ml_join_class_of(j, 2), 0);
    CHECK_EQ_INT(ml_join_class_count(j, 2), 2);
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__binary_positive_can_be_the_first_sorted(void) {
    const char *ids[] = {"a", "b"};
    ml_table *t = table_of(ids, 2);
    ml_labels *l = labels_of("sid,label\na,0\nb,1\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, "0"), ML_OK);
    if (!j) goto done;
    CHECK_STR(ml_join_class_name(j, 0), "1");
    CHECK_STR(ml_join_class_name(j, 1), "0");
    CHECK_EQ_INT(ml_join_class_of(j, 0), 1);
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__multiclass_without_positive_has_none(void) {
    const char *ids[] = {"a", "b", "c"};
    ml_table *t = table_of(ids, 3);
    ml_labels *l = labels_of("sid,label\na,z\nb,y\nc,x\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, NULL), ML_OK);
    if (!j) goto done;
    CHECK(ml_join_positive(j) == NULL);
    CHECK_STR(ml_join_class_name(j, 0), "x");
    CHECK_STR(ml_join_class_name(j, 2), "z");
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__rejects_unknown_positive_listing_classes(void) {
    const char *ids[] = {"a", "b", "c"};
    ml_table *t = table_of(ids, 3);
    /* "Other" labels only a row that is not in the table, so it is not a class */
    ml_labels *l = labels_of("sid,label\na,Vaginal\nb,Cesarean\nzz,Other\n");
    ml_join *sentinel = (ml_join *)&sentinel, *j = sentinel;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, "Other"), ML_EINVAL);
    CHECK(j == sentinel);
    CHECK_ERR_CONTAINS("positive class \"Other\" is not a label of any sample in the table "
                       "(classes: \"Cesarean\", \"Vaginal\")");
    CHECK_STATUS(ml_join_new(&j, t, l, "vaginal"), ML_EINVAL); /* exact text only */
done:
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__missing_label_value_means_no_class(void) {
    const char *ids[] = {"a", "b", "c"};
    ml_table *t = table_of(ids, 3);
    ml_labels *l = labels_of("sid,label\na,NA\nb,yes\nc,\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, NULL), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_classes(j), 1);
    CHECK_EQ_INT(ml_join_class_of(j, 0), -1);
    CHECK_EQ_INT(ml_join_class_of(j, 1), 0);
    CHECK_EQ_INT(ml_join_n_samples_without_label(j), 2);
    CHECK_EQ_INT(ml_join_n_labels_without_sample(j), 0);
    CHECK(ml_join_positive(j) == NULL);
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__groups_numbered_by_first_appearance_in_table(void) {
    const char *ids[] = {"s4", "s1", "s2", "s3", "s5"};
    ml_table *t = table_of(ids, 5);
    /* file order p1, p2, but the table meets p2 first (s4) */
    ml_labels *l = labels_of("sid,label,group\ns1,A,p1\ns2,B,p1\ns3,A,\ns4,B,p2\ns5,NA,p2\n"
                             "s6,A,p3\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, NULL), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_groups(j), 2); /* p3 labels no table sample */
    CHECK_EQ_INT(ml_join_group_of(j, 0), 0); /* s4: p2 */
    CHECK_EQ_INT(ml_join_group_of(j, 1), 1); /* s1: p1 */
    CHECK_EQ_INT(ml_join_group_of(j, 2), 1);
    CHECK_EQ_INT(ml_join_group_of(j, 3), -1); /* s3: empty group */
    CHECK_EQ_INT(ml_join_group_of(j, 4), 0);  /* s5: unlabelled, still grouped */
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__empty_table_has_every_label_unmatched(void) {
    ml_table *t = table_of(NULL, 0);
    ml_labels *l = labels_of("sid,label\na,A\nb,B\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new(&j, t, l, NULL), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_classes(j), 0);
    CHECK_EQ_INT(ml_join_n_labels_without_sample(j), 2);
    CHECK(ml_join_positive(j) == NULL);
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__rejects_missing_arguments(void) {
    ml_join *j = NULL;
    CHECK_STATUS(ml_join_new(&j, NULL, NULL, NULL), ML_EINVAL);
    CHECK(j == NULL);
    ml_join_free(NULL);
}

#define KEY_HEX "00112233445566778899aabbccddeeff"

/* The table of an embeddings file: the pseudonyms of the given raw IDs under KEY_HEX. */
static ml_table *pseudonym_table(const char *const *raw, size_t n,
                                 char (*ids)[ML_PSEUDONYM_SIZE]) {
    ml_pseudonym_key *k = NULL;
    const char *p[8];
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, KEY_HEX), ML_OK);
    if (!k || n > 8) return NULL;
    for (size_t i = 0; i < n; i++) {
        ml_pseudonym_make(k, raw[i], strlen(raw[i]), ids[i]);
        p[i] = ids[i];
    }
    ml_pseudonym_key_free(k);
    return table_of(p, n);
}

static void test_join__keyed_matches_label_pseudonyms_to_table(void) {
    const char *raw[] = {"s3", "s1", "s2"};
    char ids[3][ML_PSEUDONYM_SIZE];
    ml_table *t = pseudonym_table(raw, 3, ids);
    ml_labels *l = labels_of("sid,label,group\ns1,B,p1\ns2,A,p2\ns3,B,p1\ns4,A,p3\n");
    ml_pseudonym_key *k = NULL;
    ml_join *j = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, KEY_HEX), ML_OK);
    if (!t || !l || !k) goto done;
    CHECK_STATUS(ml_join_new_keyed(&j, t, l, NULL, k), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_samples_without_label(j), 0);
    CHECK_EQ_INT(ml_join_class_of(j, 0), 1); /* s3: B */
    CHECK_EQ_INT(ml_join_class_of(j, 1), 1); /* s1: B */
    CHECK_EQ_INT(ml_join_class_of(j, 2), 0); /* s2: A */
    CHECK_EQ_INT(ml_join_n_groups(j), 2);
    CHECK_EQ_INT(ml_join_group_of(j, 0), ml_join_group_of(j, 1));
    CHECK_EQ_INT(ml_join_n_labels_without_sample(j), 1);
    CHECK_EQ_INT(ml_join_label_without_sample(j, 0), 3); /* s4 */
done:
    ml_join_free(j);
    ml_pseudonym_key_free(k);
    ml_labels_free(l);
    ml_table_free(t);
}

static void test_join__keyed_with_another_key_matches_nothing(void) {
    const char *raw[] = {"s1", "s2"};
    char ids[2][ML_PSEUDONYM_SIZE];
    ml_table *t = pseudonym_table(raw, 2, ids);
    ml_labels *l = labels_of("sid,label\ns1,A\ns2,B\n");
    ml_pseudonym_key *k = NULL;
    ml_join *j = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, "ffeeddccbbaa99887766554433221100"), ML_OK);
    if (!t || !l || !k) goto done;
    CHECK_STATUS(ml_join_new_keyed(&j, t, l, NULL, k), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_samples_without_label(j), 2);
    CHECK_EQ_INT(ml_join_n_classes(j), 0);
    CHECK_EQ_INT(ml_join_n_labels_without_sample(j), 2);
done:
    ml_join_free(j);
    ml_pseudonym_key_free(k);
    ml_labels_free(l);
    ml_table_free(t);
}

/* Label IDs that already are pseudonyms match as they stand: hashed again they never would. */
static void test_join__keyed_never_hashes_a_pseudonym_again(void) {
    const char *raw[] = {"s1", "s2"};
    char ids[2][ML_PSEUDONYM_SIZE];
    ml_table *t = pseudonym_table(raw, 2, ids);
    char text[128];
    snprintf(text, sizeof text, "sid,label\n%s,A\n%s,B\n", ids[0], ids[1]);
    ml_labels *l = labels_of(text);
    ml_pseudonym_key *k = NULL;
    ml_join *j = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, KEY_HEX), ML_OK);
    if (!t || !l || !k) goto done;
    CHECK_STATUS(ml_join_new_keyed(&j, t, l, NULL, k), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_samples_without_label(j), 0);
    CHECK_EQ_INT(ml_join_class_of(j, 0), 0);
    CHECK_EQ_INT(ml_join_class_of(j, 1), 1);
done:
    ml_join_free(j);
    ml_pseudonym_key_free(k);
    ml_labels_free(l);
    ml_table_free(t);
}

/* One raw ID among pseudonyms: the table is not an embeddings file, so raw IDs are matched. */
static void test_join__keyed_matches_raw_ids_unless_every_id_is_a_pseudonym(void) {
    const char *ids[] = {"s_0123456789abcdef", "s1"};
    ml_table *t = table_of(ids, 2);
    ml_labels *l = labels_of("sid,label\ns1,A\ns_0123456789abcdef,B\n");
    ml_pseudonym_key *k = NULL;
    ml_join *j = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, KEY_HEX), ML_OK);
    if (!t || !l || !k) goto done;
    CHECK_STATUS(ml_join_new_keyed(&j, t, l, NULL, k), ML_OK);
    if (!j) goto done;
    CHECK_EQ_INT(ml_join_n_samples_without_label(j), 0);
    CHECK_EQ_INT(ml_join_class_of(j, 0), 1); /* B */
    CHECK_EQ_INT(ml_join_class_of(j, 1), 0); /* A */
done:
    ml_join_free(j);
    ml_pseudonym_key_free(k);
    ml_labels_free(l);
    ml_table_free(t);
}

/* Without a key a table of pseudonyms is matched on raw IDs, as ml_join_new does. */
static void test_join__keyed_without_key_is_raw_join(void) {
    const char *raw[] = {"s1"};
    char ids[1][ML_PSEUDONYM_SIZE];
    ml_table *t = pseudonym_table(raw, 1, ids);
    ml_labels *l = labels_of("sid,label\ns1,A\n");
    ml_join *j = NULL;
    if (!t || !l) goto done;
    CHECK_STATUS(ml_join_new_keyed(&j, t, l, NULL, NULL), ML_OK);
    if (j) CHECK_EQ_INT(ml_join_n_samples_without_label(j), 1);
    CHECK_STATUS(ml_join_new_keyed(&j, NULL, l, NULL, NULL), ML_EINVAL);
done:
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
}

int main(void) {
    RUN(test_join__matches_raw_ids_both_ways);
    RUN(test_join__named_positive_moves_last);
    RUN(test_join__binary_positive_can_be_the_first_sorted);
    RUN(test_join__multiclass_without_positive_has_none);
    RUN(test_join__rejects_unknown_positive_listing_classes);
    RUN(test_join__missing_label_value_means_no_class);
    RUN(test_join__groups_numbered_by_first_appearance_in_table);
    RUN(test_join__empty_table_has_every_label_unmatched);
    RUN(test_join__rejects_missing_arguments);
    RUN(test_join__keyed_matches_label_pseudonyms_to_table);
    RUN(test_join__keyed_with_another_key_matches_nothing);
    RUN(test_join__keyed_never_hashes_a_pseudonym_again);
    RUN(test_join__keyed_matches_raw_ids_unless_every_id_is_a_pseudonym);
    RUN(test_join__keyed_without_key_is_raw_join);
    TEST_MAIN_END();
}
