/* test_prepare.c - `clpt prepare` as a library call, on corpora written
 * here: the M2D2 layout (folders, .txt.gz, .tar.gz; with and without
 * domains.tsv), the folder-tree layout (depth, seeded split, small
 * domains, .gz and .html documents), document modes, shard caps,
 * idempotence, bad inputs, thread-count independence and tokenizer
 * training. Every split's tokens are compared with an independent encoding
 * of the documents (EOT + encode(doc) each). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "manifest.h"
#include "prepare.h"
#include "rng.h"
#include "test_prepare_fixture.h"
#include "textsrc.h"

static char *tmp;
static char tokdir[4096];
static clpt_tokenizer *tok;
static char *logbuf;
static size_t loglen;

/* ---- corpus text -------------------------------------------------------------- */

typedef struct docs {
    char *d[64];
    int n;
} docs;

static const char *const words[] = {
    "the", "model", "learns", "domain", "text", "while", "forgetting", "some", "of", "what",
    "it", "knew", "before", "and", "transfer", "goes", "forward", "or", "backward", "in",
    "every", "step", "data", "shards", "tokens", "are", "written", "once", "café", "naïve",
    "2024", "x=1;", "(a,", "b)", "it's", "don't", "—", "über", "日本語", "🙂"};

/* A document of about n words: sentences, sometimes a single line break,
 * never a blank line or leading/trailing white space. */
static char *gen_doc(clpt_rng *r, int n)
{
    clpt_bytes b = {0};
    for (int i = 0; i < n; i++) {
        const char *w = words[clpt_rng_below(r, sizeof words / sizeof words[0])];
        if (i) {
            uint64_t k = clpt_rng_below(r, 20);
            clpt_textsrc_bytes_add(&b, k == 0 ? ".\n" : k == 1 ? ", " : k == 2 ? ".  " : " ",
                                   k == 0 ? 2 : k == 1 ? 2 : k == 2 ? 3 : 1);
        }
        clpt_textsrc_bytes_add(&b, w, strlen(w));
    }
    clpt_textsrc_bytes_add(&b, ".", 2);
    return (char *)b.p;
}

static void gen_docs(docs *d, uint64_t seed, int n, int words_per)
{
    clpt_rng r;
    clpt_rng_seed(&r, seed);
    d->n = n;
    for (int i = 0; i < n; i++) d->d[i] = gen_doc(&r, words_per + (int)clpt_rng_below(&r, 30));
}

static void free_docs(docs *d)
{
    for (int i = 0; i < d->n; i++) free(d->d[i]);
    d->n = 0;
}

/* Documents joined by blank lines of assorted shapes. */
static char *join_blank(const docs *d)
{
    static const char *const seps[] = {"\n\n", "\n\n\n", "\n  \n", "\r\n\r\n", "\n\t\n\n"};
    clpt_bytes b = {0};
    clpt_textsrc_bytes_add(&b, "\n\n", 2);  /* leading blank lines are not a document */
    for (int i = 0; i < d->n; i++) {
        if (i) clpt_textsrc_bytes_add(&b, seps[i % 5], strlen(seps[i % 5]));
        clpt_textsrc_bytes_add(&b, d->d[i], strlen(d->d[i]));
    }
    clpt_textsrc_bytes_add(&b, "\n", 2);
    return (char *)b.p;
}

/* ---- running prepare -------------------------------------------------------------- */

static void opts(clpt_prepare_opts *o, const char *root, const char *out)
{
    clpt_prepare_opts_init(o);
    o->root = root;
    o->out = out;
    o->tokenizer = tokdir;
    o->progress = 3;
    o->jobs = 2;
}

/* Run with the log captured in logbuf. */
static int run(clpt_prepare_opts *o, clpt_prepare_result *r)
{
    free(logbuf);
    logbuf = NULL;
    FILE *f = open_memstream(&logbuf, &loglen);
    o->log = f;
    int rc = clpt_prepare_run(o, r);
    fclose(f);
    return rc;
}

static int logged(const char *s) { return logbuf && strstr(logbuf, s) != NULL; }

/* The token stream of one split of one domain, from the manifest in out. */
static int split_ids(const char *out, const char *name, int split, clpt_ids *ids)
{
    clpt_manifest *m;
    if (clpt_manifest_load(&m, out)) return -1;
    int i = clpt_manifest_find(m, name), rc = i < 0 ? -1 : 0;
    const clpt_manifest_split *s = i < 0 ? NULL : clpt_manifest_split_of(m, i, split);
    for (int k = 0; s && k < s->n_shards && !rc; k++) rc = fx_shard_ids(s->shards[k].path, ids);
    clpt_manifest_free(m);
    return rc;
}

static int split_matches(const char *out, const char *name, int split, const docs *d)
{
    clpt_ids got = {0}, want = {0};
    int ok = split_ids(out, name, split, &got) == 0;
    fx_expect(tok, (const char *const *)d->d, d->n, &want);
    ok = ok && fx_ids_equal(&got, &want);
    if (!ok) fprintf(stderr, "  %s/%s: %zu tokens, want %zu\n", name, clpt_split_name(split),
                     got.n, want.n);
    clpt_ids_free(&got);
    clpt_ids_free(&want);
    return ok;
}

/* ---- M2D2 layout --------------------------------------------------------------------- */

static const char *const m2d2_names[3] = {"Science__Physics", "Science__Biology", "cs.CL"};
static docs m2d2_docs[3][CLPT_NSPLITS];

static void write_m2d2(const char *root, int archives)
{
    for (int k = 0; k < 3; k++) {
        char *text[CLPT_NSPLITS];
        for (int s = 0; s < CLPT_NSPLITS; s++) text[s] = join_blank(&m2d2_docs[k][s]);
        if (archives && k == 2) {
            char names[3][64];
            fx_member m[5] = {{m2d2_names[k], NULL, 0}};
            for (int s = 0; s < CLPT_NSPLITS; s++) {
                snprintf(names[s], 64, "%s/%s.txt", m2d2_names[k], clpt_split_name(s));
                m[1 + s] = (fx_member){names[s], text[s], 0};
            }
            fx_tar_gz(fx_path(root, "%s.tar.gz", m2d2_names[k]), m);
        }
        for (int s = 0; s < CLPT_NSPLITS; s++) {
            const char *p = fx_path(root, "%s/%s.txt", m2d2_names[k], clpt_split_name(s));
            if (archives && k == 1) {  /* a domain of gzip files */
                char gz[4096];
                snprintf(gz, sizeof gz, "%s.gz", p);
                fx_write(p, "", 0), unlink(p);
                fx_gz(gz, text[s], strlen(text[s]));
            } else if (!(archives && k == 2)) {
                fx_text(p, text[s]);
            }
            free(text[s]);
        }
    }
}

static void test_m2d2(void)
{
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < CLPT_NSPLITS; s++)
            gen_docs(&m2d2_docs[k][s], 100 * k + s, s ? 3 : 12, 40);
    const char *root = fx_path(tmp, "m2d2"), *out = fx_path(tmp, "m2d2.out");
    write_m2d2(root, 0);
    fx_text(fx_path(root, "domains.tsv"), "name\tsource\tl1\tl2\n"
            "cs.CL\ts2orc\tComputer_Science\tComputation_and_Language\n"
            "Science__Physics\twiki\t\t\nScience__Biology\twiki\tScience\tBiology\n");
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, out);
    CHECK_MSG(run(&o, &r) == 0, "%s", clpt_errmsg());
    CHECK(r.domains == 3 && r.prepared == 3 && r.warnings == 0);
    clpt_manifest *m;
    CHECK(clpt_manifest_load(&m, out) == 0);
    CHECK(clpt_manifest_ndomains(m) == 3 && clpt_manifest_verify(m, -1) == 0);
    const clpt_domain *d0 = clpt_manifest_domain(m, 0), *d1 = clpt_manifest_domain(m, 1);
    CHECK(!strcmp(d0->name, "cs.CL") && !strcmp(d0->l1, "Computer_Science") && d0->order == 0);
    CHECK(!strcmp(d1->name, "Science__Physics") && !strcmp(d1->l1, "Science") &&
          !strcmp(d1->l2, "Physics"));
    CHECK(clpt_manifest_tokenizer_info(m)->eot == clpt_tokenizer_eot(tok));
    CHECK(!strcmp(clpt_manifest_tokenizer_info(m)->sha256, clpt_tokenizer_sha256(tok)));
    clpt_manifest_free(m);
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < CLPT_NSPLITS; s++)
            CHECK_MSG(split_matches(out, m2d2_names[k], s, &m2d2_docs[k][s]), "%s %d",
                      m2d2_names[k], s);

    /* without domains.tsv: sorted names, hierarchy from the names */
    unlink(fx_path(root, "domains.tsv"));
    const char *out2 = fx_path(tmp, "m2d2.out2");
    opts(&o, root, out2);
    CHECK(run(&o, &r) == 0);
    CHECK(clpt_manifest_load(&m, out2) == 0);
    const clpt_domain *a = clpt_manifest_domain(m, 0), *c = clpt_manifest_domain(m, 2);
    CHECK(!strcmp(a->name, "Science__Biology") && !strcmp(a->l2, "Biology"));
    CHECK(!strcmp(c->name, "cs.CL") && !strcmp(c->l1, "cs") && !strcmp(c->l2, "CL"));
    clpt_manifest_free(m);

    /* the same corpus as .txt.gz files and a .tar.gz archive: the same shards */
    const char *root3 = fx_path(tmp, "m2d2.arch"), *out3 = fx_path(tmp, "m2d2.out3");
    write_m2d2(root3, 1);
    opts(&o, root3, out3);
    CHECK_MSG(run(&o, &r) == 0, "%s", clpt_errmsg());
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < CLPT_NSPLITS; s++)
            CHECK(split_matches(out3, m2d2_names[k], s, &m2d2_docs[k][s]));
    clpt_manifest *m2, *m3;
    CHECK(clpt_manifest_load(&m2, out2) == 0 && clpt_manifest_load(&m3, out3) == 0);
    for (int i = 0; i < 3; i++)
        for (int s = 0; s < CLPT_NSPLITS; s++)
            CHECK(!strcmp(clpt_manifest_split_of(m2, i, s)->shards[0].sha256,
                          clpt_manifest_split_of(m3, i, s)->shards[0].sha256));
    clpt_manifest_free(m2);
    clpt_manifest_free(m3);
}

/* --docs line / file and a small shard cap */
static void test_docs_and_shards(void)
{
    const char *root = fx_path(tmp, "modes"), *p = fx_path(root, "d/train.txt");
    fx_text(p, "  first line  \nsecond line\n\n\n   \nthird\n");
    fx_text(fx_path(root, "d/valid.txt"), "v\n");
    fx_text(fx_path(root, "d/test.txt"), "t\n");
    const char *line_docs[] = {"first line", "second line", "third"};
    const char *file_doc[] = {"first line  \nsecond line\n\n\n   \nthird"};
    docs dl = {.n = 3}, df = {.n = 1};
    for (int i = 0; i < 3; i++) dl.d[i] = (char *)line_docs[i];
    df.d[0] = (char *)file_doc[0];
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, fx_path(tmp, "modes.line"));
    o.docs = CLPT_DOCS_LINE;
    CHECK(run(&o, &r) == 0 && split_matches(o.out, "d", CLPT_SPLIT_TRAIN, &dl));
    opts(&o, root, fx_path(tmp, "modes.file"));
    o.docs = CLPT_DOCS_FILE;
    CHECK(run(&o, &r) == 0 && split_matches(o.out, "d", CLPT_SPLIT_TRAIN, &df));

    /* 7 tokens per shard: many files, same stream; raising the cap removes them */
    docs big;
    gen_docs(&big, 7, 5, 30);
    char *text = join_blank(&big);
    fx_text(p, text);
    free(text);
    const char *out = fx_path(tmp, "modes.shards");
    opts(&o, root, out);
    o.shard_tokens = 7;
    CHECK(run(&o, &r) == 0 && split_matches(out, "d", CLPT_SPLIT_TRAIN, &big));
    clpt_manifest *m;
    CHECK(clpt_manifest_load(&m, out) == 0);
    const clpt_manifest_split *s = clpt_manifest_split_of(m, 0, CLPT_SPLIT_TRAIN);
    CHECK(s->n_shards == (int)((s->tokens + 6) / 7) && s->shards[0].tokens == 7);
    CHECK(clpt_manifest_verify(m, -1) == 0);
    clpt_manifest_free(m);
    o.shard_tokens = 0;
    CHECK(run(&o, &r) == 0 && r.prepared == 1);
    CHECK(clpt_fs_exists(fx_path(out, "d/train_0000.bin")) &&
          !clpt_fs_exists(fx_path(out, "d/train_0001.bin")));
    free_docs(&big);
}

static void touch_later(const char *path)
{
    struct stat st;
    stat(path, &st);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ts[1].tv_sec += 10;
    utimensat(AT_FDCWD, path, ts, 0);
}

static void test_idempotent(void)
{
    const char *root = fx_path(tmp, "m2d2"), *out = fx_path(tmp, "m2d2.out2");
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, out);
    CHECK(run(&o, &r) == 0 && r.skipped == 3 && r.prepared == 0 && r.tokens == 0);
    /* a changed input redoes its domain only */
    const char *p = fx_path(root, "cs.CL/valid.txt");
    fx_text(p, "a new valid split\n\nof two documents\n");
    touch_later(p);
    CHECK(run(&o, &r) == 0 && r.skipped == 2 && r.prepared == 1);
    docs v = {.n = 2, .d = {"a new valid split", "of two documents"}};
    CHECK(split_matches(out, "cs.CL", CLPT_SPLIT_VALID, &v));
    /* a missing shard file redoes its domain */
    unlink(fx_path(out, "Science__Physics/test_0000.bin"));
    CHECK(run(&o, &r) == 0 && r.prepared == 1 && r.skipped == 2);
    /* options that change tokens redo everything; --force too */
    o.shard_tokens = 1000000;
    CHECK(run(&o, &r) == 0 && r.prepared == 3);
    o.force = 1;
    CHECK(run(&o, &r) == 0 && r.prepared == 3);
}

/* ---- bad input ------------------------------------------------------------------------ */

static void write_good(const char *root, const char *name)
{
    for (int s = 0; s < CLPT_NSPLITS; s++)
        fx_text(fx_path(root, "%s/%s.txt", name, clpt_split_name(s)), "fine text\n\nmore\n");
}

static void test_bad_inputs(void)
{
    const char *root = fx_path(tmp, "bad"), *out = fx_path(tmp, "bad.out");
    write_good(root, "good");
    fx_text(fx_path(root, "nosplit/train.txt"), "x\n");
    fx_text(fx_path(root, "nosplit/test.txt"), "x\n");
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, out);
    CHECK(run(&o, &r) != 0 && r.failed == 1);
    CHECK(logged("nosplit/valid.txt: missing") && strstr(clpt_errmsg(), "nosplit"));
    CHECK(!clpt_fs_exists(fx_path(out, "manifest.json")));
    o.skip_bad = 1;
    CHECK(run(&o, &r) == 0 && r.domains == 1 && r.failed == 1);
    CHECK(clpt_fs_exists(fx_path(out, "manifest.json")));
    o.skip_bad = 0;
    unlink(fx_path(root, "nosplit/train.txt"));
    unlink(fx_path(root, "nosplit/test.txt"));
    rmdir(fx_path(root, "nosplit"));

    /* an empty domain: each empty file is named, the domain fails */
    for (int s = 0; s < CLPT_NSPLITS; s++)
        fx_text(fx_path(root, "hollow/%s.txt", clpt_split_name(s)), s == 1 ? "  \n\n" : "");
    CHECK(run(&o, &r) != 0 && logged("hollow/train.txt: empty") &&
          logged("domain hollow: no text in any split"));
    CHECK(!clpt_fs_exists(fx_path(out, "manifest.json")));
    CHECK(!clpt_fs_exists(fx_path(out, "hollow/stamp.json")));
    fx_text(fx_path(root, "hollow/train.txt"), "now it has text\n");
    fx_text(fx_path(root, "hollow/test.txt"), "and a test\n");
    CHECK(run(&o, &r) == 0 && logged("hollow/valid.txt") && logged("no documents"));

}

/* a corrupt archive, an archive without a split, invalid UTF-8, --domains */
static void test_bad_archives(void)
{
    const char *root = fx_path(tmp, "bad"), *out = fx_path(tmp, "bad.out");
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, out);
    char *data;
    size_t n;
    fx_member m[] = {{"arch/train.txt", "train text here and there and everywhere, over and "
                      "over again so that the compressed stream has some length to it", 0},
                     {"arch/valid.txt", "v", 0}, {"arch/test.txt", "t", 0}, {NULL, NULL, 0}};
    const char *ap = fx_path(root, "arch.tar.gz");
    fx_tar_gz(ap, m);
    CHECK(clpt_fs_read_file(ap, 1 << 20, &data, &n) == 0);
    data[n / 2] ^= 0x55;
    data[n / 2 + 1] ^= 0x55;
    fx_write(ap, data, n);
    free(data);
    CHECK(run(&o, &r) != 0 && logged("arch.tar.gz") && r.failed == 1);
    m[2].name = NULL;
    fx_tar_gz(ap, m);
    CHECK(run(&o, &r) != 0 && logged("arch.tar.gz: no test.txt in the archive"));
    unlink(ap);
    fx_write(fx_path(root, "good/valid.txt"), "caf\xe9 latin-1\n\nok\n", 16);
    CHECK(run(&o, &r) == 0 && r.warnings >= 1 && logged("good/valid.txt: 1 invalid UTF-8"));
    clpt_ids ids = {0};
    clpt_bytes back = {0};
    CHECK(split_ids(out, "good", CLPT_SPLIT_VALID, &ids) == 0);
    clpt_tokenizer_decode(tok, ids.v + 1, ids.n - 1, &back);  /* the bytes survive */
    CHECK(back.n > 12 && !memcmp(back.p, "caf\xe9 latin-1", 12));
    clpt_ids_free(&ids);
    clpt_bytes_free(&back);

    /* --domains: a subset in a given order; a listed domain that is missing fails */
    const char *df = fx_path(tmp, "subset.txt");
    fx_text(df, "# the ones we want\ngood\n");
    o.domains = df;
    CHECK(run(&o, &r) == 0 && r.domains == 1 && logged("left out"));
    fx_text(df, "good\nabsent\n");
    CHECK(run(&o, &r) != 0 && logged("absent: listed in the domains file but not found"));
}

/* ---- folder tree ---------------------------------------------------------------------- */

static void write_tree(const char *root)
{
    clpt_rng r;
    clpt_rng_seed(&r, 99);
    for (int i = 0; i < 40; i++) {  /* alpha: 40 documents of very different sizes */
        char *doc = gen_doc(&r, 5 + (int)clpt_rng_below(&r, i % 7 == 0 ? 400 : 60));
        fx_text(fx_path(root, "alpha/%s/f%02d.txt", i % 3 ? "x" : "y/z", i), doc);
        free(doc);
    }
    const char *gz = "compressed document", *html = "<p>an <b>html</b> page &amp; more</p>";
    fx_gz(fx_path(root, "alpha/packed.txt.gz"), gz, strlen(gz));
    fx_text(fx_path(root, "alpha/page.html"), html);
    fx_write(fx_path(root, "alpha/image.png"), "\x89PNG\r\n\x1a\n\0\0\0", 11);
    fx_write(fx_path(root, "alpha/blob.txt"), "text?\0\1\2", 8);
    fx_text(fx_path(root, "alpha/notes.md"), "markdown notes");
    fx_text(fx_path(root, "alpha/.hidden.txt"), "hidden");
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 6; i++) {
            char *doc = gen_doc(&r, k == 2 ? 3 : 80);
            fx_text(fx_path(root, "beta/sub%d/doc%d.txt", k, i), doc);
            free(doc);
        }
    fx_text(fx_path(root, "beta/readme.txt"), "above the domain depth when --depth 2");
    fx_text(fx_path(root, "top.txt"), "above every domain");
}

/* Total docs over the splits of a domain, from its stamp-backed manifest. */
static uint64_t split_tokens(const char *out, const char *name, int split)
{
    clpt_ids ids = {0};
    split_ids(out, name, split, &ids);
    uint64_t n = ids.n;
    clpt_ids_free(&ids);
    return n;
}

static void test_tree(void)
{
    const char *root = fx_path(tmp, "tree"), *o1 = fx_path(tmp, "tree.1");
    write_tree(root);
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, o1);
    o.ext = "txt,html";
    o.seed = 5;
    CHECK_MSG(run(&o, &r) == 0, "%s", clpt_errmsg());
    CHECK(r.domains == 2 && logged("above --depth 1") && logged("not matching --ext"));
    CHECK(logged("1 binary file") && logged("blob.txt") && logged("hidden"));
    clpt_ids all = {0};
    for (int s = 0; s < CLPT_NSPLITS; s++) split_ids(o1, "alpha", s, &all);
    int eots = 0;
    for (size_t i = 0; i < all.n; i++) eots += all.v[i] == clpt_tokenizer_eot(tok);
    CHECK(eots == 42);  /* 40 .txt + .txt.gz + .html; no .md, .png or hidden file */
    clpt_bytes text = {0};
    clpt_tokenizer_decode(tok, all.v, all.n, &text);
    clpt_textsrc_bytes_add(&text, "", 1);
    CHECK(strstr((char *)text.p, "compressed document") &&
          strstr((char *)text.p, "an html page & more") && !strstr((char *)text.p, "<b>"));
    clpt_bytes_free(&text);
    clpt_ids_free(&all);
    uint64_t tr = split_tokens(o1, "alpha", 0), va = split_tokens(o1, "alpha", 1),
             te = split_tokens(o1, "alpha", 2);
    CHECK(va > 0 && te > 0 && tr > 5 * (va + te));

    /* same seed: same shards; another seed: another split */
    const char *o2 = fx_path(tmp, "tree.2"), *o3 = fx_path(tmp, "tree.3");
    o.out = o2;
    o.jobs = 1;
    CHECK(run(&o, &r) == 0);
    o.out = o3;
    o.seed = 6;
    CHECK(run(&o, &r) == 0);
    clpt_manifest *m1, *m2, *m3;
    CHECK(!clpt_manifest_load(&m1, o1) && !clpt_manifest_load(&m2, o2) &&
          !clpt_manifest_load(&m3, o3));
    const clpt_manifest_split *s1 = clpt_manifest_split_of(m1, 0, 1),
                              *s2 = clpt_manifest_split_of(m2, 0, 1),
                              *s3 = clpt_manifest_split_of(m3, 0, 1);
    CHECK(!strcmp(s1->shards[0].sha256, s2->shards[0].sha256));
    CHECK(strcmp(s1->shards[0].sha256, s3->shards[0].sha256) != 0);
    clpt_manifest_free(m1), clpt_manifest_free(m2), clpt_manifest_free(m3);

}

/* depth 2: beta/sub0..2 with L1 beta; alpha/x, alpha/y; small ones merged */
static void test_tree_depth2(void)
{
    const char *root = fx_path(tmp, "tree"), *o4 = fx_path(tmp, "tree.4");
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, o4);
    o.depth = 2;
    o.min_bytes = 300;
    CHECK_MSG(run(&o, &r) == 0, "%s", clpt_errmsg());
    CHECK(logged("7 file(s) above --depth 2") && logged("merged into its sibling beta__sub"));
    CHECK(logged("domain beta__sub2"));
    clpt_manifest *m;
    CHECK(clpt_manifest_load(&m, o4) == 0);
    int i = clpt_manifest_find(m, "beta__sub0");
    CHECK(i >= 0 && !strcmp(clpt_manifest_domain(m, i)->l1, "beta") &&
          !strcmp(clpt_manifest_domain(m, i)->l2, "sub0"));
    CHECK(clpt_manifest_find(m, "beta__sub2") < 0 && clpt_manifest_find(m, "alpha__y") >= 0);
    clpt_manifest_free(m);
    o.small = CLPT_SMALL_DROP;
    o.min_bytes = 1000000;
    CHECK(run(&o, &r) != 0 && logged("dropped"));  /* all dropped: nothing to write */
    if (check_failures) fprintf(stderr, "log:\n%s", logbuf);
}

/* Chunked, parallel encoding of documents much larger than a chunk equals
 * encoding each whole, whatever the thread count. */
static void test_big_docs(void)
{
    const char *root = fx_path(tmp, "big");
    docs d;
    gen_docs(&d, 3, 2, 180000);  /* ~1.2 MB each: several chunks per document */
    char *text = join_blank(&d);
    fx_text(fx_path(root, "b/train.txt"), text);
    free(text);
    fx_text(fx_path(root, "b/valid.txt"), "v");
    fx_text(fx_path(root, "b/test.txt"), "t");
    clpt_prepare_opts o;
    clpt_prepare_result r;
    char sha[2][65] = {"", ""};
    for (int k = 0; k < 2; k++) {
        opts(&o, root, fx_path(tmp, "big.%d", k));
        o.jobs = k ? 4 : 1;
        CHECK(run(&o, &r) == 0 && split_matches(o.out, "b", CLPT_SPLIT_TRAIN, &d));
        clpt_manifest *m;
        CHECK(clpt_manifest_load(&m, o.out) == 0);
        snprintf(sha[k], 65, "%s", clpt_manifest_split_of(m, 0, 0)->shards[0].sha256);
        clpt_manifest_free(m);
    }
    CHECK(sha[0][0] && !strcmp(sha[0], sha[1]));
    free_docs(&d);
}

/* --train-tokenizer: learned from the train split into a folder inside
 * the output, named relative to the manifest. */
static void test_train_tokenizer(void)
{
    const char *root = fx_path(tmp, "m2d2"), *out = fx_path(tmp, "trained");
    char td[4096];
    snprintf(td, sizeof td, "%s/tok", out);
    clpt_prepare_opts o;
    clpt_prepare_result r;
    opts(&o, root, out);
    o.tokenizer = td;
    o.train_vocab = 300;
    CHECK_MSG(run(&o, &r) == 0, "%s", clpt_errmsg());
    CHECK(logged("trained a 300-id BPE tokenizer"));
    clpt_manifest *m;
    CHECK(clpt_manifest_load(&m, out) == 0);
    CHECK(!strcmp(clpt_manifest_tokenizer_info(m)->path, "tok") &&
          clpt_manifest_tokenizer_info(m)->vocab_size == 300);
    clpt_manifest_free(m);
    CHECK(run(&o, &r) == 0 && r.skipped == 3 && !logged("trained"));
}

int main(void)
{
    tmp = fx_tmpdir("prep");
    snprintf(tokdir, sizeof tokdir, "%s/tokenizer", tmp);
    docs seed;
    gen_docs(&seed, 42, 40, 50);
    char *text = join_blank(&seed);
    fx_tokenizer(tokdir, text, 500);
    free(text);
    free_docs(&seed);
    if (clpt_tokenizer_load(&tok, tokdir)) {
        fprintf(stderr, "%s\n", clpt_errmsg());
        return 1;
    }
    test_m2d2();
    test_docs_and_shards();
    test_idempotent();
    test_bad_inputs();
    test_bad_archives();
    test_tree();
    test_tree_depth2();
    test_big_docs();
    test_train_tokenizer();
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < CLPT_NSPLITS; s++) free_docs(&m2d2_docs[k][s]);
    clpt_tokenizer_free(tok);
    free(logbuf);
    if (!check_failures) clpt_fs_remove_tree(tmp);
    else fprintf(stderr, "files kept in %s\n", tmp);
    free(tmp);
    fx_paths_free();
    CHECK_DONE();
}
