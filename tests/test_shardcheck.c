/* test_shardcheck.c - shard checksums at training and evaluation time: a
 * flipped byte in a shard is refused, naming the shard and the manifest, by
 * the loader, by `clpt train`'s data opening and by the run engine, before
 * anything is used; the stamp of verified files spares a second hash but
 * not a changed file (even one whose modification time was put back); a bad
 * or unwritable stamp costs only a rehash; data.verify_shards = false
 * skips the check. Corpus: tests/test_clrun_fixture.h. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_clrun_fixture.h"
#include "dataloader.h"
#include "shardcheck.h"
#include "testdir.h"
#include "train.h"

static const char *corpus;

/* Open domain 0's `split` with a fresh checker; *hashed / *stamped (may be
 * NULL) get what it did. Returns the open's code; the stamp is saved. */
static int open_checked(const clpt_manifest *m, int split, int *hashed, int *stamped)
{
    clpt_shardcheck *c;
    clpt_source *s = NULL;
    if (clpt_shardcheck_new(&c, m)) return -100;
    int rc = clpt_source_from_split(&s, m, 0, split, 0, c);
    CHECK(rc ? s == NULL : s != NULL);
    clpt_shardcheck_counts(c, hashed, NULL, stamped);
    clpt_shardcheck_close(c, NULL);
    clpt_source_free(s);
    return rc;
}

/* Flip one token byte of `file` in place (XOR 0x01 at byte 1024 + 10):
 * the header stays valid, only the checksum can tell. With `keep_mtime`
 * the modification time is put back, as a careless copy tool might. */
static void flip(const char *file, int keep_mtime)
{
    const char *p = P(file);
    struct stat st;
    unsigned char b;
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0 && fstat(fd, &st) == 0 && pread(fd, &b, 1, 1034) == 1);
    b ^= 0x01;
    CHECK(pwrite(fd, &b, 1, 1034) == 1);
    if (keep_mtime) {
        struct timespec t[2] = {st.st_atim, st.st_mtim};
        CHECK(futimens(fd, t) == 0);
    }
    close(fd);
}

static void test_loader(const clpt_manifest *m)
{
    int hashed = -1, stamped = -1;
    /* a shard changed within the window (2 s by default; an hour here, so
     * that a slow machine cannot age the fixture past it) is checked but not
     * stamped: it may change again within one timestamp tick */
    setenv("CLPT_STAMP_MIN_AGE_S", "3600", 1);
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 1 && stamped == 0);
    CHECK_MSG(!clpt_fs_exists(P(CLPT_SHARDCHECK_STAMP)), "a just-written shard was stamped");
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 1 && stamped == 0);
    /* the rest of the test does not wait for files to age */
    setenv("CLPT_STAMP_MIN_AGE_S", "0", 1);
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 1 && stamped == 0);
    CHECK(clpt_fs_exists(P(CLPT_SHARDCHECK_STAMP)));
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 0 && stamped == 1);

    /* a flipped byte, even with the old modification time: the change time
     * still differs, so the stamp does not vouch and the hash refuses it */
    flip("alpha_train.bin", 1);
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, NULL) == CLPT_EFORMAT && hashed == 1);
    CHECK(has("alpha_train.bin") && has("manifest.json") && has("domain \"alpha\" train shard 0") &&
          has("sha256"));
    clpt_source *s = NULL;
    CHECK(clpt_source_from_split(&s, m, 0, CLPT_SPLIT_TRAIN, 0, NULL) == 0);  /* no checker: no check */
    clpt_source_free(s);

    /* the other splits are unaffected; the byte put back passes again */
    CHECK(open_checked(m, CLPT_SPLIT_TEST, NULL, NULL) == 0);
    flip("alpha_train.bin", 0);
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 1 && stamped == 0);
}

static void test_stamp_faults(const clpt_manifest *m)
{
    /* a malformed stamp is ignored (everything is hashed) and rewritten */
    CHECK(clpt_fs_write_atomic(P(CLPT_SHARDCHECK_STAMP), "{\"format\": 3", 12) == 0);
    int hashed = -1, stamped = -1;
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 1 && stamped == 0);
    CHECK(open_checked(m, CLPT_SPLIT_TRAIN, &hashed, &stamped) == 0 && hashed == 0 && stamped == 1);

    /* a stamp that cannot be written (here a directory in its place, which
     * binds root too) is a note in the log, not an error, and closing does
     * not replace the message of the failure it may follow */
    CHECK(clpt_fs_remove_tree(P(CLPT_SHARDCHECK_STAMP)) == 0);
    CHECK(clpt_fs_mkdir_p(P(CLPT_SHARDCHECK_STAMP "/x")) == 0);
    clpt_shardcheck *c;
    clpt_source *s = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *log = open_memstream(&text, &len);
    CHECK(clpt_shardcheck_new(&c, m) == 0);
    CHECK(clpt_source_from_split(&s, m, 1, CLPT_SPLIT_VALID, 0, c) == 0);
    clpt_err(CLPT_EFORMAT, "the earlier failure");
    clpt_shardcheck_close(c, log);
    fclose(log);
    CHECK(!strcmp(clpt_errmsg(), "the earlier failure"));
    CHECK_MSG(text && strstr(text, "checked 1 shard") && strstr(text, "note:") &&
              strstr(text, CLPT_SHARDCHECK_STAMP), "log: %s", text ? text : "");
    free(text);
    clpt_source_free(s);
    CHECK(clpt_fs_remove_tree(P(CLPT_SHARDCHECK_STAMP)) == 0);
}

/* `clpt train` and `clpt eval` open data through clpt_data_open */
static void test_data_open(void)
{
    clpt_source **src = NULL;
    int n = 0;
    flip("beta_valid.bin", 0);
    CHECK(clpt_data_open(corpus, "", CLPT_SPLIT_VALID, 0, 1, "data.valid", &src, &n, NULL) == CLPT_EFORMAT);
    CHECK(src == NULL && n == 0 && has("beta_valid.bin") && has("manifest.json"));
    CHECK(clpt_data_open(corpus, "alpha", CLPT_SPLIT_VALID, 0, 1, "data.valid", &src, &n, NULL) == 0 && n == 1);
    for (int i = 0; i < n; i++) clpt_source_free(src[i]);
    free(src);
    CHECK(clpt_data_open(corpus, "", CLPT_SPLIT_VALID, 0, 0, "data.valid", &src, &n, NULL) == 0 && n == 3);
    for (int i = 0; i < n; i++) clpt_source_free(src[i]);
    free(src);
    flip("beta_valid.bin", 0);
}

/* the run engine opens every split of every domain before it trains */
static void test_run(void)
{
    clpt_config cfg;
    fix_config(&cfg);
    flip("gamma_test.bin", 0);
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "corrupt", "sequential", NULL, 0);
    clpt_clrun *r = NULL;
    CHECK(clpt_clrun_open(&r, &o) == CLPT_EFORMAT && r == NULL);
    CHECK(has("gamma_test.bin") && has("manifest.json") && has("run corrupt"));
    CHECK(!clpt_fs_exists(P("corrupt/journal.jsonl")) && !clpt_fs_exists(P("corrupt/checkpoints")));

    CHECK(clpt_config_set_arg(&cfg, "data.verify_shards=false", "test") == 0);
    int rc = clpt_clrun_open(&r, &o);
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    clpt_clrun_close(r);
    flip("gamma_test.bin", 0);
}

int main(void)
{
    corpus = fix_corpus();
    if (corpus) snprintf(dir, sizeof dir, "%s", corpus); /* P() names files in it */
    if (!corpus) return 1;
    clpt_manifest *m = NULL;
    CHECK(clpt_manifest_load(&m, corpus) == 0);
    if (m) {
        test_loader(m);
        test_stamp_faults(m);
        test_data_open();
        test_run();
        clpt_manifest_free(m);
    }
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
