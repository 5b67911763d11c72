/* test_tokens.c - what tokens.c promises: fresh tokens and their lines, the tokens file's
 * rules (mode 0600, owner, no symbolic link, strict lines, unique names and hashes), errors
 * that name FILE:LINE without echoing the line, and lookups that find the right entry. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/serve.h"
#include "ml_test.h"

static char dir[64];

static void write_file(const char *path, const char *text, unsigned mode) {
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK((size_t)write(fd, text, strlen(text)) == strlen(text));
    close(fd);
    CHECK(chmod(path, mode) == 0);
}

static void sha256_hex(const char *s, char hex[65]) {
    unsigned char d[32];
    unsigned n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_tokens__new_token_and_line_match(void) {
    char tok[ML_TOKEN_SIZE], line[ML_TOKEN_LINE_SIZE], tok2[ML_TOKEN_SIZE], line2[ML_TOKEN_LINE_SIZE];
    CHECK_STATUS(ml_token_new("alice", ML_TOKEN_ROLE_PREDICT, tok, line), ML_OK);
    CHECK_EQ_INT(strlen(tok), 47);
    CHECK(strncmp(tok, "mlt_", 4) == 0);
    CHECK(strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);
    char hex[65], want[ML_TOKEN_LINE_SIZE];
    sha256_hex(tok, hex);
    snprintf(want, sizeof want, "alice:predict:%s", hex);
    CHECK_STR(line, want);
    CHECK(strstr(line, tok) == NULL); /* the line holds the hash, never the token */
    CHECK_STATUS(ml_token_new("ops.admin-1", ML_TOKEN_ROLE_ADMIN, tok2, line2), ML_OK);
    CHECK(strcmp(tok, tok2) != 0);
    CHECK(strncmp(line2, "ops.admin-1:admin:", 18) == 0);
}

static void test_tokens__new_refuses_bad_names(void) {
    char tok[ML_TOKEN_SIZE] = "untouched", line[ML_TOKEN_LINE_SIZE] = "untouched";
    const char *bad[] = {"", "a:b", "has space", "semi;colon", "\x1b[31m", NULL};
    for (size_t i = 0; bad[i]; i++) {
        CHECK_STATUS(ml_token_new(bad[i], ML_TOKEN_ROLE_PREDICT, tok, line), ML_EINVAL);
        CHECK_ERR_CONTAINS("token name");
    }
    char long_name[ML_TOKEN_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_STATUS(ml_token_new(long_name, ML_TOKEN_ROLE_PREDICT, tok, line), ML_EINVAL);
    long_name[ML_TOKEN_NAME_MAX] = '\0'; /* exactly the maximum is fine */
    CHECK_STATUS(ml_token_new(long_name, ML_TOKEN_ROLE_PREDICT, tok, line), ML_OK);
    CHECK_STATUS(ml_token_new("x", (ml_token_role)9, tok, line), ML_EINVAL);
}

static void test_tokens__roles_parse_and_name(void) {
    ml_token_role r = ML_TOKEN_ROLE_PREDICT;
    CHECK_STATUS(ml_token_role_parse("admin", &r), ML_OK);
    CHECK_EQ_INT(r, ML_TOKEN_ROLE_ADMIN);
    CHECK_STATUS(ml_token_role_parse("predict", &r), ML_OK);
    CHECK_EQ_INT(r, ML_TOKEN_ROLE_PREDICT);
    CHECK_STATUS(ml_token_role_parse("Admin", &r), ML_EINVAL);
    CHECK_STATUS(ml_token_role_parse(NULL, &r), ML_EINVAL);
    CHECK_STR(ml_token_role_name(ML_TOKEN_ROLE_ADMIN), "admin");
    CHECK_STR(ml_token_role_name((ml_token_role)0), "unknown");
}

static void test_tokens__load_and_find(void) {
    char ta[ML_TOKEN_SIZE], la[ML_TOKEN_LINE_SIZE], tb[ML_TOKEN_SIZE], lb[ML_TOKEN_LINE_SIZE];
    CHECK_STATUS(ml_token_new("alice", ML_TOKEN_ROLE_PREDICT, ta, la), ML_OK);
    CHECK_STATUS(ml_token_new("root", ML_TOKEN_ROLE_ADMIN, tb, lb), ML_OK);
    char text[1024], path[128];
    /* comments, blank lines, CRLF and surrounding spaces are all fine */
    snprintf(text, sizeof text, "# clients\n\n%s\r\n   %s  \n# end\n", la, lb);
    snprintf(path, sizeof path, "%s/tokens", dir);
    write_file(path, text, 0600);
    ml_tokens *t = NULL;
    CHECK_STATUS(ml_tokens_load(&t, path), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_tokens_count(t), 2);
    size_t i = 99;
    CHECK(ml_tokens_find(t, tb, strlen(tb), &i));
    CHECK_EQ_INT(i, 1);
    CHECK_STR(ml_tokens_name(t, i), "root");
    CHECK_EQ_INT(ml_tokens_role(t, i), ML_TOKEN_ROLE_ADMIN);
    CHECK(ml_tokens_find(t, ta, strlen(ta), &i));
    CHECK_EQ_INT(i, 0);
    CHECK_EQ_INT(ml_tokens_role(t, i), ML_TOKEN_ROLE_PREDICT);
    i = 99;
    CHECK(!ml_tokens_find(t, ta, strlen(ta) - 1, &i)); /* a prefix is another token */
    CHECK(!ml_tokens_find(t, "", 0, &i));
    char huge[300];
    memset(huge, 'a', sizeof huge);
    CHECK(!ml_tokens_find(t, huge, sizeof huge, &i));
    CHECK_EQ_INT(i, 99); /* untouched on a miss */
    /* the hash, not the token, is what the file holds: presenting the hash fails */
    const char *hash = strrchr(la, ':') + 1;
    CHECK(!ml_tokens_find(t, hash, strlen(hash), &i));
    CHECK(ml_tokens_name(t, 5) == NULL);
    ml_tokens_free(t);
    ml_tokens_free(NULL);
    unlink(path);
}

static void test_tokens__file_mode_owner_and_links(void) {
    char tok[ML_TOKEN_SIZE], line[ML_TOKEN_LINE_SIZE], text[256], path[128], link_path[128];
    CHECK_STATUS(ml_token_new("alice", ML_TOKEN_ROLE_PREDICT, tok, line), ML_OK);
    snprintf(text, sizeof text, "%s\n", line);
    snprintf(path, sizeof path, "%s/tokens-mode", dir);
    ml_tokens *t = NULL;
    write_file(path, text, 0644);
    CHECK_STATUS(ml_tokens_load(&t, path), ML_EPERM);
    CHECK_ERR_CONTAINS("0644");
    CHECK_ERR_CONTAINS("chmod 600");
    CHECK_ERR_CONTAINS(path);
    write_file(path, text, 0640);
    CHECK_STATUS(ml_tokens_load(&t, path), ML_EPERM);
    write_file(path, text, 0400); /* stricter than 0600 is fine */
    CHECK_STATUS(ml_tokens_load(&t, path), ML_OK);
    ml_tokens_free(t);
    t = NULL;
    snprintf(link_path, sizeof link_path, "%s/tokens-link", dir);
    unlink(link_path);
    CHECK(symlink(path, link_path) == 0);
    CHECK_STATUS(ml_tokens_load(&t, link_path), ML_EPERM);
    CHECK_ERR_CONTAINS("symbolic link");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    CHECK_STATUS(ml_tokens_load(&t, missing), ML_ENOTFOUND);
    CHECK(t == NULL);
    unlink(link_path);
    chmod(path, 0600);
    unlink(path);
}

/* Each bad file is refused with ML_EFORMAT naming FILE:LINE, and never echoes the line's
 * third field (someone may have pasted the token itself there). */
static void test_tokens__bad_lines_name_file_and_line(void) {
    char ta[ML_TOKEN_SIZE], la[ML_TOKEN_LINE_SIZE], tb[ML_TOKEN_SIZE], lb[ML_TOKEN_LINE_SIZE];
    CHECK_STATUS(ml_token_new("alice", ML_TOKEN_ROLE_PREDICT, ta, la), ML_OK);
    CHECK_STATUS(ml_token_new("bob", ML_TOKEN_ROLE_PREDICT, tb, lb), ML_OK);
    char path[128], text[1024], where[160];
    snprintf(path, sizeof path, "%s/tokens-bad", dir);
    snprintf(where, sizeof where, "%s:2:", path);
    const char *hash_b = strrchr(lb, ':') + 1;
    struct {
        const char *second;
        const char *says;
    } cases[] = {
        {"bob:predict", "3 fields"},
        {"bob:root:0000000000000000000000000000000000000000000000000000000000000000", "role"},
        {"b b:predict:0000000000000000000000000000000000000000000000000000000000000000", "name"},
        {"bob:predict:SECRET_mlt_pasted_token_here", "64 hex"},
        {"bob:predict:zz00000000000000000000000000000000000000000000000000000000000000", "hex"},
    };
    ml_tokens *t = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(text, sizeof text, "%s\n%s\n", la, cases[i].second);
        write_file(path, text, 0600);
        CHECK_STATUS(ml_tokens_load(&t, path), ML_EFORMAT);
        CHECK_ERR_CONTAINS(where);
        CHECK_ERR_CONTAINS(cases[i].says);
        CHECK(strstr(ml_error_last()->message, "SECRET") == NULL);
        CHECK(t == NULL);
    }
    /* the same name twice; the same hash under two names */
    snprintf(text, sizeof text, "%s\nalice:admin:%s\n", la, hash_b);
    write_file(path, text, 0600);
    CHECK_STATUS(ml_tokens_load(&t, path), ML_EFORMAT);
    CHECK_ERR_CONTAINS("twice");
    snprintf(text, sizeof text, "%s\ncarol:predict:%s\n", lb, hash_b);
    write_file(path, text, 0600);
    CHECK_STATUS(ml_tokens_load(&t, path), ML_EFORMAT);
    CHECK_ERR_CONTAINS("same token hash");
    /* nothing but comments */
    write_file(path, "# nobody yet\n\n", 0600);
    CHECK_STATUS(ml_tokens_load(&t, path), ML_EINVAL);
    CHECK_ERR_CONTAINS("no token");
    CHECK(t == NULL);
    unlink(path);
}

static void test_tokens__file_add_creates_appends_and_refuses_duplicates(void) {
    char ta[ML_TOKEN_SIZE], la[ML_TOKEN_LINE_SIZE], tb[ML_TOKEN_SIZE], lb[ML_TOKEN_LINE_SIZE];
    char tc[ML_TOKEN_SIZE], lc[ML_TOKEN_LINE_SIZE], path[128];
    CHECK_STATUS(ml_token_new("alice", ML_TOKEN_ROLE_PREDICT, ta, la), ML_OK);
    CHECK_STATUS(ml_token_new("root", ML_TOKEN_ROLE_ADMIN, tb, lb), ML_OK);
    CHECK_STATUS(ml_token_new("alice", ML_TOKEN_ROLE_ADMIN, tc, lc), ML_OK);
    snprintf(path, sizeof path, "%s/tokens-add", dir);
    unlink(path);
    CHECK_STATUS(ml_tokens_file_add(path, la), ML_OK); /* created */
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_STATUS(ml_tokens_file_add(path, lb), ML_OK);
    CHECK_STATUS(ml_tokens_file_add(path, lc), ML_EFORMAT); /* name taken */
    CHECK_ERR_CONTAINS("already has a token named");
    CHECK_STATUS(ml_tokens_file_add(path, la), ML_EFORMAT);
    CHECK_STATUS(ml_tokens_file_add(path, "bob:predict:short"), ML_EFORMAT);
    ml_tokens *t = NULL;
    CHECK_STATUS(ml_tokens_load(&t, path), ML_OK);
    size_t i = 0;
    CHECK_EQ_INT(ml_tokens_count(t), 2);
    CHECK(ml_tokens_find(t, tb, strlen(tb), &i) && i == 1);
    CHECK(!ml_tokens_find(t, tc, strlen(tc), &i));
    ml_tokens_free(t);
    CHECK(chmod(path, 0644) == 0);
    CHECK_STATUS(ml_tokens_file_add(path, lc), ML_EPERM);
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ml_tokens_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_tokens__new_token_and_line_match);
    RUN(test_tokens__new_refuses_bad_names);
    RUN(test_tokens__roles_parse_and_name);
    RUN(test_tokens__load_and_find);
    RUN(test_tokens__file_mode_owner_and_links);
    RUN(test_tokens__bad_lines_name_file_and_line);
    RUN(test_tokens__file_add_creates_appends_and_refuses_duplicates);
    rmdir(dir);
    TEST_MAIN_END();
}
