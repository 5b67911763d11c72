/* test_pseudonym.c - what pseudonym.c promises: known HMAC answers, key parsing, 0600 key files,
 * create-once keys, and secrets kept out of messages. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/pseudonym.h"
#include "ml_test.h"
#include "ml_tmp.h"

#define HEX_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char tmp_root[64];

static void make_tmp_root(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/ml_test_pseudonym_XXXXXX");
    CHECK(mkdtemp(tmp_root) != NULL);
}

/* rm -r without a shell: the folder holds only files, symlinks and folders we made. */
static void path_in_tmp(char *dst, size_t cap, const char *name) {
    snprintf(dst, cap, "%s/%s", tmp_root, name);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
    CHECK(chmod(path, mode) == 0);
}

static void pseudonym_of(const ml_pseudonym_key *k, const char *id, char out[ML_PSEUDONYM_SIZE]) {
    ml_pseudonym_make(k, id, strlen(id), out);
}

/* Expected values computed independently with Debian's Python:
 *   /usr/bin/python3 -c "import hmac,hashlib; k=bytes.fromhex('000102...1e1f');
 *     print('s_'+hmac.new(k,b'sample-001',hashlib.sha256).hexdigest()[:16])"
 * and likewise for b'' and for the text key b'correct horse battery staple'. */
static void test_pseudonym__matches_python_hmac_for_hex_key(void) {
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, HEX_KEY), ML_OK);
    if (!k) return;
    char p[ML_PSEUDONYM_SIZE];
    pseudonym_of(k, "sample-001", p);
    CHECK_STR(p, "s_671c28c58179dcb0");
    ml_pseudonym_make(k, "", 0, p);
    CHECK_STR(p, "s_d38b42096d80f45f");
    ml_pseudonym_key_free(k);
}

static void test_pseudonym__matches_python_hmac_for_text_key(void) {
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, "correct horse battery staple\n"), ML_OK);
    if (!k) return;
    char p[ML_PSEUDONYM_SIZE];
    pseudonym_of(k, "sample-001", p);
    CHECK_STR(p, "s_935ceb325d595593");
    ml_pseudonym_key_free(k);
}

static void test_pseudonym__hex_key_is_decoded_not_taken_as_text(void) {
    ml_pseudonym_key *hex = NULL, *upper = NULL, *text = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&hex, HEX_KEY), ML_OK);
    CHECK_STATUS(ml_pseudonym_key_from_secret(&upper, "000102030405060708090A0B0C0D0E0F"
                                              "101112131415161718191A1B1C1D1E1F\r\n"), ML_OK);
    /* one non-hex character makes the same string a text key */
    CHECK_STATUS(ml_pseudonym_key_from_secret(&text, HEX_KEY "g"), ML_OK);
    if (hex && upper && text) {
        char a[ML_PSEUDONYM_SIZE], b[ML_PSEUDONYM_SIZE], c[ML_PSEUDONYM_SIZE];
        pseudonym_of(hex, "sample-001", a);
        pseudonym_of(upper, "sample-001", b);
        pseudonym_of(text, "sample-001", c);
        CHECK_STR(a, b);
        CHECK(strcmp(a, c) != 0);
    }
    ml_pseudonym_key_free(hex);
    ml_pseudonym_key_free(upper);
    ml_pseudonym_key_free(text);
}

static void test_pseudonym__rejects_short_text_key_without_echoing_it(void) {
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, "hunter2-secret"), ML_EINVAL);
    CHECK(k == NULL);
    CHECK_ERR_CONTAINS("14 bytes");
    CHECK(strstr(ml_error_last()->message, "hunter2") == NULL);
}

static void test_pseudonym__rejects_short_or_odd_hex_key(void) {
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, "0123456789abcdef0123456789abcd"), ML_EINVAL);
    CHECK_ERR_CONTAINS("30 hex digits");
    CHECK(strstr(ml_error_last()->message, "0123456789") == NULL);
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, HEX_KEY "a"), ML_EINVAL);
    CHECK_ERR_CONTAINS("65 hex digits");
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, "\n"), ML_EINVAL);
    CHECK_STATUS(ml_pseudonym_key_from_secret(&k, NULL), ML_EINVAL);
    CHECK(k == NULL);
}

static void test_pseudonym__file_readable_by_others_is_refused(void) {
    char path[128];
    path_in_tmp(path, sizeof path, "loose.key");
    write_file(path, HEX_KEY "\n", 0644);
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_EPERM);
    CHECK(k == NULL);
    CHECK_ERR_CONTAINS(path);
    CHECK_ERR_CONTAINS("0644");
    CHECK_ERR_CONTAINS("chmod 600");
    CHECK(strstr(ml_error_last()->message, "0001020304") == NULL);
    CHECK(chmod(path, 0640) == 0);
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_EPERM);
    CHECK_ERR_CONTAINS("0640");
}

static void test_pseudonym__file_0600_is_accepted(void) {
    char path[128];
    path_in_tmp(path, sizeof path, "good.key");
    write_file(path, HEX_KEY "\n", 0600);
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_OK);
    if (!k) return;
    char p[ML_PSEUDONYM_SIZE];
    pseudonym_of(k, "sample-001", p);
    CHECK_STR(p, "s_671c28c58179dcb0");
    ml_pseudonym_key_free(k);
    CHECK(chmod(path, 0400) == 0); /* stricter than 0600 is fine too */
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_OK);
    ml_pseudonym_key_free(k);
}

static void test_pseudonym__symlink_is_judged_by_its_target(void) {
    char target[128], link_path[128];
    path_in_tmp(target, sizeof target, "target.key");
    path_in_tmp(link_path, sizeof link_path, "link.key");
    write_file(target, HEX_KEY "\n", 0600);
    CHECK(symlink(target, link_path) == 0);
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, link_path), ML_OK);
    ml_pseudonym_key_free(k);
    k = NULL;
    CHECK(chmod(target, 0604) == 0);
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, link_path), ML_EPERM);
    CHECK(k == NULL);
}

static void test_pseudonym__missing_file_is_notfound(void) {
    char path[128];
    path_in_tmp(path, sizeof path, "absent.key");
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_ENOTFOUND);
    CHECK_ERR_CONTAINS(path);
    CHECK(k == NULL);
}

static void test_pseudonym__directory_is_not_a_key_file(void) {
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, tmp_root), ML_EINVAL);
    CHECK_ERR_CONTAINS("not a regular file");
}

static void test_pseudonym__file_with_short_key_names_the_path(void) {
    char path[128];
    path_in_tmp(path, sizeof path, "short.key");
    write_file(path, "tooshort\n", 0600);
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_EINVAL);
    CHECK_ERR_CONTAINS(path);
    CHECK(strstr(ml_error_last()->message, "tooshort") == NULL);
}

static void test_pseudonym__oversized_key_file_is_refused(void) {
    char path[128];
    path_in_tmp(path, sizeof path, "big.key");
    char *big = malloc(5001);
    if (!big) return;
    memset(big, 'x', 5000);
    big[5000] = '\0';
    write_file(path, big, 0600);
    free(big);
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_file(&k, path), ML_EFORMAT);
    CHECK_ERR_CONTAINS("over 4096 bytes");
}

static void test_pseudonym__load_or_create_creates_then_reloads_same_key(void) {
    char dir[128], path[160];
    path_in_tmp(dir, sizeof dir, "config/microlens");
    snprintf(path, sizeof path, "%s/id.key", dir);
    ml_pseudonym_key *a = NULL, *b = NULL;
    bool created = false;
    CHECK_STATUS(ml_pseudonym_key_load_or_create(&a, path, &created), ML_OK);
    CHECK(created);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK_EQ_INT(sb.st_mode & 0777, 0600);
    CHECK_EQ_INT(sb.st_size, 65); /* 64 hex digits and a newline */
    CHECK(stat(dir, &sb) == 0);
    CHECK_EQ_INT(sb.st_mode & 0077, 0);
    CHECK_STATUS(ml_pseudonym_key_load_or_create(&b, path, &created), ML_OK);
    CHECK(!created);
    if (a && b) {
        char pa[ML_PSEUDONYM_SIZE], pb[ML_PSEUDONYM_SIZE];
        pseudonym_of(a, "sample-001", pa);
        pseudonym_of(b, "sample-001", pb);
        CHECK_STR(pa, pb);
        CHECK(ml_pseudonym_is_pseudonym(pa));
    }
    ml_pseudonym_key_free(a);
    ml_pseudonym_key_free(b);
}

static void test_pseudonym__load_or_create_keeps_a_loose_existing_file(void) {
    char path[128];
    path_in_tmp(path, sizeof path, "existing-loose.key");
    write_file(path, HEX_KEY "\n", 0644);
    ml_pseudonym_key *k = NULL;
    bool created = true;
    CHECK_STATUS(ml_pseudonym_key_load_or_create(&k, path, &created), ML_EPERM);
    CHECK(k == NULL);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK_EQ_INT(sb.st_size, 65);
    CHECK_EQ_INT(sb.st_mode & 0777, 0644);
}

static void test_pseudonym__load_or_create_refuses_dangling_symlink(void) {
    char path[128], target[128];
    path_in_tmp(path, sizeof path, "dangling.key");
    path_in_tmp(target, sizeof target, "nowhere/at/all");
    CHECK(symlink(target, path) == 0);
    ml_pseudonym_key *k = NULL;
    CHECK_STATUS(ml_pseudonym_key_load_or_create(&k, path, NULL), ML_EIO);
    CHECK_ERR_CONTAINS("dangling");
    CHECK(k == NULL);
}

static void test_pseudonym__random_keys_differ(void) {
    ml_pseudonym_key *a = NULL, *b = NULL;
    CHECK_STATUS(ml_pseudonym_key_random(&a), ML_OK);
    CHECK_STATUS(ml_pseudonym_key_random(&b), ML_OK);
    if (a && b) {
        char pa[ML_PSEUDONYM_SIZE], pb[ML_PSEUDONYM_SIZE];
        pseudonym_of(a, "sample-001", pa);
        pseudonym_of(b, "sample-001", pb);
        CHECK(strcmp(pa, pb) != 0);
    }
    ml_pseudonym_key_free(a);
    ml_pseudonym_key_free(b);
    ml_pseudonym_key_free(NULL);
}

static void test_pseudonym__is_pseudonym_checks_exact_shape(void) {
    CHECK(ml_pseudonym_is_pseudonym("s_671c28c58179dcb0"));
    CHECK(!ml_pseudonym_is_pseudonym("s_671c28c58179dcb"));   /* 15 digits */
    CHECK(!ml_pseudonym_is_pseudonym("s_671c28c58179dcb01")); /* 17 digits */
    CHECK(!ml_pseudonym_is_pseudonym("s_671C28C58179DCB0"));  /* upper case */
    CHECK(!ml_pseudonym_is_pseudonym("S_671c28c58179dcb0"));
    CHECK(!ml_pseudonym_is_pseudonym("x_671c28c58179dcb0"));
    CHECK(!ml_pseudonym_is_pseudonym("s_671c28c58179dcg0"));
    CHECK(!ml_pseudonym_is_pseudonym(""));
    CHECK(!ml_pseudonym_is_pseudonym("s"));
    CHECK(!ml_pseudonym_is_pseudonym(NULL));
}

int main(void) {
    make_tmp_root();
    RUN(test_pseudonym__matches_python_hmac_for_hex_key);
    RUN(test_pseudonym__matches_python_hmac_for_text_key);
    RUN(test_pseudonym__hex_key_is_decoded_not_taken_as_text);
    RUN(test_pseudonym__rejects_short_text_key_without_echoing_it);
    RUN(test_pseudonym__rejects_short_or_odd_hex_key);
    RUN(test_pseudonym__file_readable_by_others_is_refused);
    RUN(test_pseudonym__file_0600_is_accepted);
    RUN(test_pseudonym__symlink_is_judged_by_its_target);
    RUN(test_pseudonym__missing_file_is_notfound);
    RUN(test_pseudonym__directory_is_not_a_key_file);
    RUN(test_pseudonym__file_with_short_key_names_the_path);
    RUN(test_pseudonym__oversized_key_file_is_refused);
    RUN(test_pseudonym__load_or_create_creates_then_reloads_same_key);
    RUN(test_pseudonym__load_or_create_keeps_a_loose_existing_file);
    RUN(test_pseudonym__load_or_create_refuses_dangling_symlink);
    RUN(test_pseudonym__random_keys_differ);
    RUN(test_pseudonym__is_pseudonym_checks_exact_shape);
    ml_test_remove_tree(tmp_root);
    TEST_MAIN_END();
}
