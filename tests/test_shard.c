/* test_shard.c - token shards: round trip, every malformed-header error,
 * vocabulary check, and the writer's atomicity (abort, kill, overwrite). */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "testdir.h"
#include "clpt.h"
#include "fsutil.h"
#include "shard.h"


static void put32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = u & 0xff; p[1] = (u >> 8) & 0xff; p[2] = (u >> 16) & 0xff; p[3] = u >> 24;
}

/* A file with a hand-made header and `payload` bytes after it. */
static void write_raw(const char *path, int32_t magic, int32_t version, int32_t count,
                      size_t payload)
{
    unsigned char h[1024] = {0};
    put32(h, magic); put32(h + 4, version); put32(h + 8, count);
    FILE *f = fopen(path, "wb");
    fwrite(h, 1, sizeof h, f);
    for (size_t i = 0; i < payload; i++) fputc((int)(i & 0x7f), f);
    fclose(f);
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Name of the one entry in dir other than `except` (or "" if none). */
static void other_entry(const char *except, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    out[0] = '\0';
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, except))
            snprintf(out, cap, "%s", e->d_name);
    closedir(d);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void test_round_trip(void)
{
    static uint16_t tok[100000];
    for (int i = 0; i < 100000; i++) tok[i] = (uint16_t)(i * 7919u);
    clpt_shard_writer *w;
    CHECK(clpt_shard_writer_open(&w, P("rt.bin")) == 0);
    /* uneven appends that straddle stdio's buffer */
    CHECK(clpt_shard_writer_append(w, tok, 1) == 0);
    CHECK(clpt_shard_writer_append(w, tok + 1, 0) == 0);
    CHECK(clpt_shard_writer_append(w, tok + 1, 29999) == 0);
    CHECK(clpt_shard_writer_append(w, tok + 30000, 70000) == 0);
    CHECK(clpt_shard_writer_count(w) == 100000);
    CHECK(clpt_shard_writer_close(w) == 0);

    struct stat st;
    CHECK(stat(P("rt.bin"), &st) == 0 && st.st_size == 1024 + 200000);
    CHECK((st.st_mode & 0777) != 0600);  /* not left with mkstemp's mode */
    FILE *f = fopen(P("rt.bin"), "rb");
    unsigned char h[12];
    CHECK(fread(h, 1, 12, f) == 12);
    fclose(f);
    CHECK(h[0] == (20240520 & 0xff) && h[3] == (20240520 >> 24));
    CHECK(h[4] == 1 && h[5] == 0 && h[8] == (100000 & 0xff) && h[9] == ((100000 >> 8) & 0xff));

    clpt_shard *sh;
    CHECK(clpt_shard_open(&sh, P("rt.bin")) == 0);
    CHECK(clpt_shard_count(sh) == 100000);
    CHECK(!strcmp(clpt_shard_path(sh), P("rt.bin")));
    CHECK(memcmp(clpt_shard_tokens(sh), tok, sizeof tok) == 0);
    clpt_shard_close(sh);

    CHECK(clpt_shard_write(P("empty.bin"), NULL, 0) == 0);
    CHECK(clpt_shard_open(&sh, P("empty.bin")) == 0);
    CHECK(clpt_shard_count(sh) == 0);
    clpt_shard_close(sh);

    /* overwrite an existing shard */
    CHECK(clpt_shard_write(P("rt.bin"), tok + 5, 3) == 0);
    CHECK(clpt_shard_open(&sh, P("rt.bin")) == 0);
    CHECK(clpt_shard_count(sh) == 3 && clpt_shard_tokens(sh)[0] == tok[5]);
    clpt_shard_close(sh);
}

static void expect_open_fails(const char *path, int code, const char *a, const char *b,
                              const char *c)
{
    clpt_shard *sh = (clpt_shard *)1;
    int rc = clpt_shard_open(&sh, path);
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", path, rc, code, clpt_errmsg());
    CHECK(sh == NULL);
    CHECK(has(path));
    if (a) CHECK(has(a));
    if (b) CHECK(has(b));
    if (c) CHECK(has(c));
}

static void test_malformed(void)
{
    FILE *f = fopen(P("short.bin"), "wb");
    fwrite("0123456789", 1, 10, f);
    fclose(f);
    expect_open_fails(P("short.bin"), CLPT_EFORMAT, "10 bytes", "shorter", "header");
    f = fopen(P("zero.bin"), "wb");
    fclose(f);
    expect_open_fails(P("zero.bin"), CLPT_EFORMAT, "0 bytes", "shorter", NULL);

    write_raw(P("magic.bin"), 12345, 1, 0, 0);
    expect_open_fails(P("magic.bin"), CLPT_EFORMAT, "magic", "12345", "20240520");
    write_raw(P("version.bin"), 20240520, 7, 0, 0);
    expect_open_fails(P("version.bin"), CLPT_EUNSUP, "version", "7", NULL);

    /* header claims more tokens than the file holds: 10 claimed, 5 present */
    write_raw(P("more.bin"), 20240520, 1, 10, 10);
    expect_open_fails(P("more.bin"), CLPT_EFORMAT, "token count) is 10", "1044", "1034");
    /* header claims fewer: 5 claimed, 10 present */
    write_raw(P("fewer.bin"), 20240520, 1, 5, 20);
    expect_open_fails(P("fewer.bin"), CLPT_EFORMAT, "token count) is 5", "1034", "1044");
    write_raw(P("odd.bin"), 20240520, 1, 2, 5);
    expect_open_fails(P("odd.bin"), CLPT_EFORMAT, "odd byte", NULL, NULL);
    write_raw(P("neg.bin"), 20240520, 1, -3, 0);
    expect_open_fails(P("neg.bin"), CLPT_EFORMAT, "-3", "negative", NULL);

    expect_open_fails(P("missing.bin"), CLPT_EIO, NULL, NULL, NULL);
    expect_open_fails(dir, CLPT_EIO, "regular", NULL, NULL);
}

static void test_vocab(void)
{
    uint16_t tok[] = {1, 2, 3, 4, 5, 70, 8, 90};
    clpt_shard *sh;
    CHECK(clpt_shard_write(P("v.bin"), tok, 8) == 0);
    CHECK(clpt_shard_open(&sh, P("v.bin")) == 0);
    CHECK(clpt_shard_check_vocab(sh, 91) == 0);
    CHECK(clpt_shard_check_vocab(sh, 50) == CLPT_EFORMAT);
    CHECK(has("position 5") && has("70") && has("50") && has(P("v.bin")));
    CHECK(clpt_shard_check_vocab(sh, 90) == CLPT_EFORMAT && has("position 7"));
    clpt_shard_close(sh);
}

static void test_writer_abort(void)
{
    uint16_t tok[64] = {0};
    clpt_shard_writer *w;
    char tmp[256];
    clpt_fs_remove_tree(dir);
    mkdir(dir, 0755);

    CHECK(clpt_shard_writer_open(&w, P("a.bin")) == 0);
    CHECK(clpt_shard_writer_append(w, tok, 64) == 0);
    CHECK(access(P("a.bin"), F_OK) != 0);  /* nothing at the path while writing */
    CHECK(count_entries() == 1);
    other_entry("", tmp, sizeof tmp);
    CHECK_MSG(!ends_with(tmp, ".bin"), "temporary file \"%s\" is named like a shard", tmp);
    clpt_shard *sh;
    CHECK(clpt_shard_open(&sh, P(tmp)) != 0);  /* and is never a valid shard */
    clpt_shard_writer_abort(w);
    CHECK(count_entries() == 0);
    CHECK(access(P("a.bin"), F_OK) != 0);

    /* an old shard survives an aborted rewrite, and is replaced by a closed one */
    uint16_t old[3] = {7, 8, 9};
    CHECK(clpt_shard_write(P("a.bin"), old, 3) == 0);
    CHECK(clpt_shard_writer_open(&w, P("a.bin")) == 0);
    CHECK(clpt_shard_writer_append(w, tok, 64) == 0);
    clpt_shard_writer_abort(w);
    CHECK(clpt_shard_open(&sh, P("a.bin")) == 0);
    CHECK(clpt_shard_count(sh) == 3 && clpt_shard_tokens(sh)[2] == 9);
    clpt_shard_close(sh);
    CHECK(count_entries() == 1);

    CHECK(clpt_shard_writer_open(&w, P("nodir/a.bin")) == CLPT_EIO);
    CHECK(has("nodir/a.bin"));
    CHECK(clpt_shard_writer_open(&w, P("b.bin")) == 0);
    CHECK(clpt_shard_writer_append(w, tok, (size_t)CLPT_SHARD_MAX_TOKENS + 1) == CLPT_EINVAL);
    CHECK(has("limit"));
    clpt_shard_writer_abort(w);
    clpt_shard_writer_abort(NULL);
}

/* A writer killed before close leaves nothing at the path, and what it
 * leaves behind does not open as a shard. */
static void test_writer_killed(void)
{
    clpt_fs_remove_tree(dir);
    mkdir(dir, 0755);
    pid_t pid = fork();
    if (pid == 0) {
        static uint16_t tok[200000];
        clpt_shard_writer *w;
        if (clpt_shard_writer_open(&w, P("k.bin"))) _exit(2);
        if (clpt_shard_writer_append(w, tok, 200000)) _exit(3);
        _exit(0);  /* dies without close */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(access(P("k.bin"), F_OK) != 0);
    char tmp[256];
    other_entry("", tmp, sizeof tmp);
    CHECK(tmp[0] != '\0' && !ends_with(tmp, ".bin"));
    clpt_shard *sh;
    CHECK(clpt_shard_open(&sh, P(tmp)) != 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "shardtest.XXXXXX");
    if (!mkdtemp(dir)) SKIP_TEST("cannot create a temporary directory");
    test_round_trip();
    test_malformed();
    test_vocab();
    test_writer_abort();
    test_writer_killed();
    clpt_fs_remove_tree(dir);
    CHECK_DONE();
}
