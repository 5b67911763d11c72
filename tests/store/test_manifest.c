/* test_manifest.c - what the MANIFEST promises: a round trip whose lines match SHA-256 test
 * vectors, a flipped byte in any file refused naming it, missing, resized and extra files,
 * symbolic links never followed, and every malformed-line rule of a forged MANIFEST. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/manifest.h"
#include "ml_test.h"

static char dir[64];

static const char *path_in(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *name, const char *text) {
    FILE *f = fopen(path_in(name), "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static size_t read_file(const char *name, char *buf, size_t cap) {
    FILE *f = fopen(path_in(name), "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static void flip_byte(const char *name, long at) {
    FILE *f = fopen(path_in(name), "r+b");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
}

static void fresh_dir(void) {
    char cmd[128];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    snprintf(dir, sizeof dir, "/tmp/ml-manifest-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

/* Three files whose SHA-256 are FIPS 180-2 / NIST test vectors ("abc", "") plus one more. */
static void make_checkpoint(void) {
    fresh_dir();
    write_file("b.txt", "abc");
    write_file("a.json", "");
    write_file("model.safetensors", "0123456789abcdef0123456789abcdef");
    CHECK_STATUS(ml_manifest_write(dir), ML_OK);
}

static void verify_fails(const char *want_in_message) {
    ml_manifest_report r;
    CHECK_STATUS(ml_manifest_verify(dir, NULL, &r), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS(want_in_message);
}

static void test_manifest__round_trip_lines_sorted_with_known_hashes(void) {
    make_checkpoint();
    char text[1024];
    read_file("MANIFEST", text, sizeof text);
    const char *want =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  0  a.json\n"
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  3  b.txt\n";
    CHECK(strncmp(text, want, strlen(want)) == 0);
    CHECK(strstr(text, "  32  model.safetensors\n") != NULL);
    ml_manifest_report r;
    CHECK_STATUS(ml_manifest_verify(dir, NULL, &r), ML_OK);
    CHECK_EQ_INT(r.n_files, 3);
    CHECK_EQ_INT(r.n_checked, 3);
    CHECK_EQ_INT(r.n_bytes, 35);
    struct stat sb;
    CHECK(stat(path_in("MANIFEST"), &sb) == 0 && (sb.st_mode & 0777) == 0644);
}

static void test_manifest__rewrite_leaves_manifest_out_of_itself(void) {
    make_checkpoint();
    write_file("MANIFEST.sig", "not a signature");
    CHECK_STATUS(ml_manifest_write(dir), ML_OK);
    char text[1024];
    read_file("MANIFEST", text, sizeof text);
    CHECK(strstr(text, "MANIFEST") == NULL);
    CHECK_STATUS(ml_manifest_verify(dir, NULL, NULL), ML_OK);
}

static void test_manifest__empty_folder(void) {
    fresh_dir();
    CHECK_STATUS(ml_manifest_write(dir), ML_OK);
    ml_manifest_report r;
    CHECK_STATUS(ml_manifest_verify(dir, NULL, &r), ML_OK);
    CHECK_EQ_INT(r.n_files, 0);
}

static void test_manifest__flipped_byte_in_each_file_refused_naming_it(void) {
    const char *names[] = {"b.txt", "model.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        make_checkpoint();
        flip_byte(names[i], 1);
        ml_manifest_report r;
        CHECK_STATUS(ml_manifest_verify(dir, NULL, &r), ML_EINTEGRITY);
        CHECK_ERR_CONTAINS(path_in(names[i]));
        CHECK_ERR_CONTAINS("SHA-256 does not match MANIFEST line");
        CHECK(r.n_checked < 3);
    }
}

static void test_manifest__resized_file_refused(void) {
    make_checkpoint();
    write_file("b.txt", "abcd");
    verify_fails("b.txt: 4 bytes, MANIFEST line 2 says 3");
}

static void test_manifest__missing_file_refused(void) {
    make_checkpoint();
    CHECK(unlink(path_in("model.safetensors")) == 0);
    verify_fails("model.safetensors: listed in MANIFEST line 3 but missing");
}

static void test_manifest__extra_file_refused_unless_allowed(void) {
    make_checkpoint();
    write_file("zz.bin", "x");
    verify_fails("zz.bin: not listed in MANIFEST");
    ml_manifest_verify_options o = ML_MANIFEST_VERIFY_OPTIONS_INIT;
    o.allow_extra_files = true;
    CHECK_STATUS(ml_manifest_verify(dir, &o, NULL), ML_OK);
    CHECK(mkdir(path_in("sub"), 0755) == 0);
    verify_fails("sub: not listed in MANIFEST");
}

static void test_manifest__symlinked_file_refused(void) {
    make_checkpoint();
    /* Same bytes behind the link: only the link itself can be the reason for refusal. */
    char target[128];
    snprintf(target, sizeof target, "%s.target", dir);
    CHECK(rename(path_in("b.txt"), target) == 0);
    CHECK(symlink(target, path_in("b.txt")) == 0);
    verify_fails("b.txt: is a symbolic link");
    CHECK_STATUS(ml_manifest_write(dir), ML_EINVAL);
    CHECK_ERR_CONTAINS("b.txt: is a symbolic link");
    unlink(target);
}

static void test_manifest__symlinked_manifest_refused(void) {
    make_checkpoint();
    char target[128];
    snprintf(target, sizeof target, "%s.manifest", dir);
    CHECK(rename(path_in("MANIFEST"), target) == 0);
    CHECK(symlink(target, path_in("MANIFEST")) == 0);
    verify_fails("MANIFEST: is a symbolic link");
    unlink(target);
}

static void test_manifest__write_refuses_subfolder(void) {
    fresh_dir();
    write_file("a", "1");
    CHECK(mkdir(path_in("sub"), 0755) == 0);
    CHECK_STATUS(ml_manifest_write(dir), ML_EINVAL);
    CHECK_ERR_CONTAINS("sub: not a regular file");
    CHECK(access(path_in("MANIFEST"), F_OK) != 0);
}

static void test_manifest__no_manifest_refused(void) {
    fresh_dir();
    verify_fails("no MANIFEST");
}

static void test_manifest__missing_folder_and_bad_version(void) {
    CHECK_STATUS(ml_manifest_verify("/nonexistent/ckpt", NULL, NULL), ML_ENOTFOUND);
    CHECK_STATUS(ml_manifest_write("/nonexistent/ckpt"), ML_ENOTFOUND);
    ml_manifest_verify_options o = ML_MANIFEST_VERIFY_OPTIONS_INIT;
    o.version = 99;
    CHECK_STATUS(ml_manifest_verify("/tmp", &o, NULL), ML_EINVAL);
}

#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A forged MANIFEST over a folder holding b.txt = "abc"; every case breaks one rule. */
static void forged(const char *manifest, const char *want) {
    fresh_dir();
    write_file("b.txt", "abc");
    write_file("MANIFEST", manifest);
    verify_fails(want);
}

static void test_manifest__forged_lines_refused(void) {
    fresh_dir(); /* the well-formed line the cases below break */
    write_file("b.txt", "abc");
    write_file("MANIFEST", ABC "  3  b.txt\n");
    CHECK_STATUS(ml_manifest_verify(dir, NULL, NULL), ML_OK);
    forged(ABC "  3  ../b.txt\n", "MANIFEST:1:72: '/' in a file name");
    forged(ABC "  3  sub/b.txt\n", "'/' in a file name");
    forged(ABC "  3  b.txt\n" EMPTY "  0  ..\n", "MANIFEST:2:70: \".\" or \"..\"");
    forged(ABC "  3  b.txt", "MANIFEST:1:75: last line has no newline (truncated");
    forged("ba7816bf8f01cfea414140de5dae2223b00361a3961\n", "MANIFEST:1:1: line too short");
    forged("BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  3  b.txt\n",
           "MANIFEST:1:1: not a lower-case hex digit");
    forged(ABC " 3  b.txt\n", "MANIFEST:1:65: expected two spaces after the SHA-256");
    forged(ABC "  03  b.txt\n", "MANIFEST:1:67: expected a size in bytes");
    forged(ABC "  -3  b.txt\n", "expected a size in bytes");
    forged(ABC "  3 b.txt\n", "expected two spaces after the size");
    forged(ABC "  99999999999999999999999  b.txt\n", "size too large");
    forged(ABC "  3  \n", "empty file name");
    forged(ABC "  3  b\tx\n", "control character in the file name");
    forged(ABC "  3  b.txt\n" ABC "  3  b.txt\n", "MANIFEST:2:70: name not after");
    forged(ABC "  3  c\n" ABC "  3  b.txt\n", "name not after");
    forged(ABC "  3  MANIFEST\n", "cannot list itself");
    forged(ABC "  3  b.txt\n\n", "MANIFEST:2:1: line too short");
}

int main(void) {
    RUN(test_manifest__round_trip_lines_sorted_with_known_hashes);
    RUN(test_manifest__rewrite_leaves_manifest_out_of_itself);
    RUN(test_manifest__empty_folder);
    RUN(test_manifest__flipped_byte_in_each_file_refused_naming_it);
    RUN(test_manifest__resized_file_refused);
    RUN(test_manifest__missing_file_refused);
    RUN(test_manifest__extra_file_refused_unless_allowed);
    RUN(test_manifest__symlinked_file_refused);
    RUN(test_manifest__symlinked_manifest_refused);
    RUN(test_manifest__write_refuses_subfolder);
    RUN(test_manifest__no_manifest_refused);
    RUN(test_manifest__missing_folder_and_bad_version);
    RUN(test_manifest__forged_lines_refused);
    fresh_dir();
    rmdir(dir);
    TEST_MAIN_END();
}
