/* test_journal.c - the journal reader: runs, cells, resumes, torn lines,
 * bad lines with file:line, groups across run directories. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clpt.h"
#include "fsutil.h"
#include "journal.h"
#include "metrics.h"

#define L(...) "{\"v\":1,\"time\":1000," __VA_ARGS__ "}\n"

static const char *seq_journal =
    L("\"event\":\"run\",\"run\":\"seq\",\"strategy\":\"sequential\",\"schedule\":[\"a\",\"b\"],"
      "\"options\":{},\"model\":{\"n_layer\":2},\"resumed\":false,\"seed\":7")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"base\",\"index\":0,\"domain\":\"a\",\"ppl\":10,\"nll\":2.3,\"tokens\":100")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"base\",\"index\":0,\"domain\":\"b\",\"ppl\":20,\"tokens\":100")
    L("\"event\":\"domain_begin\",\"run\":\"seq\",\"index\":1,\"domain\":\"a\"")
    L("\"event\":\"train\",\"run\":\"seq\",\"index\":1,\"domain\":\"a\",\"step\":1,\"global_step\":1,\"tokens\":64,\"loss\":3.5,\"lr\":0.001")
    L("\"event\":\"train\",\"run\":\"seq\",\"index\":1,\"domain\":\"a\",\"step\":2,\"global_step\":2,\"tokens\":128,\"loss\":3.1,\"lr\":0.001,\"metrics\":{\"x\":1}")
    L("\"event\":\"domain_end\",\"run\":\"seq\",\"index\":1,\"domain\":\"a\",\"steps\":2,\"tokens\":128,\"seconds\":1.5,\"checkpoint\":\"ckpt/1\"")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:1\",\"index\":1,\"domain\":\"a\",\"ppl\":7,\"rank_mean\":12.5,\"rank_median\":3")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:1\",\"index\":1,\"domain\":\"b\",\"ppl\":18")
    L("\"event\":\"future_event\",\"run\":\"seq\",\"whatever\":[1,2]")
    "\n"
    /* a resume: second run event, a re-written cell (last wins) */
    L("\"event\":\"run\",\"run\":\"seq\",\"strategy\":\"sequential\",\"schedule\":[\"a\",\"b\"],\"resumed\":true")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:1\",\"domain\":\"b\",\"ppl\":17")
    L("\"event\":\"domain_begin\",\"run\":\"seq\",\"index\":2,\"domain\":\"b\"")
    L("\"event\":\"domain_end\",\"run\":\"seq\",\"index\":2,\"domain\":\"b\",\"steps\":2,\"tokens\":128,\"seconds\":1.5,\"checkpoint\":\"ckpt/2\"")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:2\",\"index\":2,\"domain\":\"a\",\"ppl\":9")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:2\",\"index\":2,\"domain\":\"b\",\"ppl\":15,\"split\":\"test\"")
    L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:2\",\"index\":2,\"domain\":\"b\",\"ppl\":99,\"split\":\"valid\"")
    L("\"event\":\"run_end\",\"run\":\"seq\",\"seconds\":12");

static void test_parse(void)
{
    clpt_experiment *e;
    CHECK(clpt_experiment_new(&e) == 0);
    CHECK(clpt_experiment_parse(e, seq_journal, strlen(seq_journal), "mem", "exp/seq") == 0);
    CHECK(clpt_experiment_nruns(e) == 1);
    const clpt_jrun *r = clpt_experiment_run(e, 0);
    CHECK(!strcmp(r->name, "seq") && !strcmp(r->strategy, "sequential"));
    CHECK(r->n_sched == 2 && !strcmp(r->schedule[1], "b"));
    CHECK(r->starts == 2 && r->finished && r->seconds == 12 && r->seed == 7);
    CHECK(r->model && r->options && !r->config);
    CHECK(r->n_train == 2 && fabs(r->train[1].loss - 3.1) < 1e-12);
    CHECK(r->n_domains == 2 && r->domains[0].ended && r->domains[1].ended);
    CHECK(!strcmp(r->domains[1].checkpoint, "ckpt/2") && r->domains[0].seconds == 1.5);
    CHECK(r->n_cells == 7);   /* 8 eval lines, one rewritten */
    const clpt_jcell *c = clpt_experiment_cell(e, 0, "after:1", "b", NULL);
    CHECK(c && c->ppl == 17 && c->index == 1);   /* index from the model name */
    c = clpt_experiment_cell(e, 0, "after:1", "a", "test");
    CHECK(c && c->rank_mean == 12.5 && c->rank_median == 3 && isnan(c->top1));
    c = clpt_experiment_cell(e, 0, "after:2", "b", "valid");
    CHECK(c && c->ppl == 99);
    CHECK(clpt_experiment_cell(e, 0, "after:3", "b", NULL) == NULL);
    CHECK(r->torn_lines == 0);

    double *zs, *dapt, *p;
    CHECK(clpt_experiment_matrix(e, 0, CLPT_MEASURE_PPL, NULL, &zs, &dapt, &p) == 0);
    CHECK(zs[0] == 10 && zs[1] == 20 && isnan(dapt[0]) && isnan(dapt[1]));
    CHECK(p[0] == 7 && p[1] == 17 && p[2] == 9 && p[3] == 15);
    clpt_cl_matrix m = {2, zs, dapt, p};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    CHECK_CLOSE(o.fg.value, 1, 1e-12);          /* ((9-7) + (15-15)) / 2 */
    CHECK_CLOSE(o.bt[1].value, 1, 1e-12);       /* 10 - 9 */
    CHECK_CLOSE(o.ft[0].value, 3, 1e-12);       /* 20 - 17 */
    CHECK(isnan(o.mean_dapt.value));
    clpt_cl_metrics_free(&o);
    free(zs), free(dapt), free(p);
    CHECK(clpt_experiment_matrix(e, 0, CLPT_MEASURE_RANK_MEAN, "test", NULL, NULL, &p) == 0);
    CHECK(p[0] == 12.5 && isnan(p[1]));
    free(p);
    clpt_experiment_free(e);
}

/* Expect parse failure with a message containing `want`. */
static void expect_bad(const char *text, int code, const char *want)
{
    clpt_experiment *e;
    CHECK(clpt_experiment_new(&e) == 0);
    int rc = clpt_experiment_parse(e, text, strlen(text), "j.jsonl", "d");
    CHECK_MSG(rc == code, "rc %d for %s", rc, want);
    CHECK_MSG(strstr(clpt_errmsg(), want) != NULL, "message '%s' lacks '%s'", clpt_errmsg(), want);
    clpt_experiment_free(e);
}

static void test_torn_and_bad(void)
{
    /* a torn last line is skipped */
    const char *torn = L("\"event\":\"run\",\"run\":\"r\",\"schedule\":[\"a\"]")
        "{\"v\":1,\"event\":\"eval\",\"run\":\"r\",\"mod";
    clpt_experiment *e;
    CHECK(clpt_experiment_new(&e) == 0);
    CHECK(clpt_experiment_parse(e, torn, strlen(torn), "t", "d") == 0);
    CHECK(clpt_experiment_run(e, 0)->torn_lines == 1 && clpt_experiment_run(e, 0)->n_cells == 0);
    clpt_experiment_free(e);
    /* a bad line quoted in the message never reads past the buffer, which
     * need not end in a NUL (a fuzzer finding: "x\ny" in an exact-size copy) */
    char *exact = malloc(3);
    memcpy(exact, "x\ny", 3);
    CHECK(clpt_experiment_new(&e) == 0);
    CHECK(clpt_experiment_parse(e, exact, 3, "j.jsonl", "d") == CLPT_EFORMAT);
    CHECK(strstr(clpt_errmsg(), "not valid JSON (x)") != NULL);
    clpt_experiment_free(e);
    free(exact);
    /* an out-of-range index is refused, not converted (a fuzzer finding) */
    expect_bad(L("\"event\":\"run\",\"run\":\"r\",\"schedule\":[\"a\"]")
               L("\"event\":\"eval\",\"run\":\"r\",\"model\":\"after:1\",\"domain\":\"a\",\"ppl\":2,\"index\":3.17e10"),
               CLPT_EFORMAT, "j.jsonl:2: 'eval' event: \"index\" must be an integer");
    expect_bad(L("\"event\":\"run\",\"run\":\"r\",\"schedule\":[\"a\"]")
               L("\"event\":\"domain_begin\",\"run\":\"r\",\"index\":2000000000,\"domain\":\"a\""),
               CLPT_EFORMAT, "j.jsonl:2: 'domain_begin' event: \"index\" 2000000000 is past");
    /* ... but not in the middle */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n%s", torn, L("\"event\":\"run_end\",\"run\":\"r\""));
    expect_bad(buf, CLPT_EFORMAT, "j.jsonl:2: not valid JSON");
    expect_bad(L("\"event\":\"eval\",\"run\":\"r\",\"domain\":\"a\",\"ppl\":1"), CLPT_EFORMAT,
               "j.jsonl:1: 'eval' event without a string \"model\"");
    expect_bad("\n" L("\"event\":\"eval\",\"run\":\"r\",\"model\":\"base\",\"domain\":\"a\"")
               L("\"event\":\"run_end\",\"run\":\"r\""), CLPT_EFORMAT,
               "j.jsonl:2: 'eval' event without a number \"ppl\"");
    expect_bad(L("\"event\":\"run\",\"run\":\"r\",\"schedule\":[\"a\",3]"), CLPT_EFORMAT,
               "j.jsonl:1: 'run' event: schedule entry 2");
    expect_bad("{\"v\":2,\"event\":\"run\"}\n", CLPT_EUNSUP, "j.jsonl:1: journal format version 2");
    expect_bad("[1,2]\n{}\n", CLPT_EFORMAT, "j.jsonl:1: not a JSON object");
    expect_bad(L("\"event\":\"domain_end\",\"run\":\"r\",\"index\":0,\"domain\":\"a\""), CLPT_EFORMAT,
               "\"index\" must be an integer >= 1");
    expect_bad(L("\"event\":\"eval\",\"run\":\"r\",\"model\":\"after:x\",\"domain\":\"a\",\"ppl\":1"),
               CLPT_EFORMAT, "model \"after:x\"");
    expect_bad(L("\"event\":\"train\",\"run\":\"r\",\"index\":1,\"loss\":\"high\""), CLPT_EFORMAT,
               "'train' event: a numeric field");
    /* two JSON values on one line are a bad line */
    expect_bad("{\"v\":1} {\"v\":1}\n{\"v\":1,\"event\":\"x\"}\n", CLPT_EFORMAT, "j.jsonl:1: not valid JSON");
}

static int write_file(const char *path, const char *text)
{
    return clpt_fs_write_atomic(path, text, strlen(text));
}

/* Runs in sibling directories share ZS and DAPT cells; runs elsewhere do not. */
static void test_dirs(const char *tmp)
{
    char p[512];
    snprintf(p, sizeof p, "%s/exp/zs", tmp);
    CHECK(clpt_fs_mkdir_p(p) == 0);
    snprintf(p, sizeof p, "%s/exp/seq", tmp);
    CHECK(clpt_fs_mkdir_p(p) == 0);
    snprintf(p, sizeof p, "%s/other/seq", tmp);
    CHECK(clpt_fs_mkdir_p(p) == 0);
    snprintf(p, sizeof p, "%s/exp/zs/journal.jsonl", tmp);
    CHECK(write_file(p, L("\"event\":\"run\",\"run\":\"zs\",\"strategy\":\"none\",\"schedule\":[]")
                        L("\"event\":\"eval\",\"run\":\"zs\",\"model\":\"base\",\"domain\":\"a\",\"ppl\":10")
                        L("\"event\":\"eval\",\"run\":\"zs\",\"model\":\"dapt:a\",\"domain\":\"a\",\"ppl\":6")) == 0);
    const char *seq = L("\"event\":\"run\",\"run\":\"seq\",\"schedule\":[\"a\"]")
                      L("\"event\":\"eval\",\"run\":\"seq\",\"model\":\"after:1\",\"domain\":\"a\",\"ppl\":5");
    snprintf(p, sizeof p, "%s/exp/seq/journal.jsonl", tmp);
    CHECK(write_file(p, seq) == 0);
    snprintf(p, sizeof p, "%s/other/seq/journal.jsonl", tmp);
    CHECK(write_file(p, seq) == 0);

    clpt_experiment *e;
    CHECK(clpt_experiment_new(&e) == 0);
    snprintf(p, sizeof p, "%s/exp", tmp);
    CHECK(clpt_experiment_add_dir(e, p) == 0);        /* experiment dir: seq, zs */
    snprintf(p, sizeof p, "%s/other/seq", tmp);
    CHECK(clpt_experiment_add_dir(e, p) == 0);        /* a run dir */
    CHECK(clpt_experiment_nruns(e) == 3);
    CHECK(!strcmp(clpt_experiment_run(e, 0)->name, "seq") && !strcmp(clpt_experiment_run(e, 1)->name, "zs"));
    CHECK(clpt_experiment_run(e, 0)->group == clpt_experiment_run(e, 1)->group);
    CHECK(clpt_experiment_run(e, 2)->group != clpt_experiment_run(e, 0)->group);
    const clpt_jcell *c = clpt_experiment_cell(e, 0, "base", "a", NULL);
    CHECK(c && c->ppl == 10);
    c = clpt_experiment_cell(e, 0, "dapt:a", "a", NULL);
    CHECK(c && c->ppl == 6);
    CHECK(clpt_experiment_cell(e, 2, "base", "a", NULL) == NULL);
    /* after:n cells are never borrowed from another run */
    CHECK(clpt_experiment_cell(e, 1, "after:1", "a", NULL) == NULL);
    snprintf(p, sizeof p, "%s/nothing", tmp);
    CHECK(clpt_experiment_add_dir(e, p) == CLPT_EIO);
    CHECK(clpt_experiment_add_dir(e, tmp) == CLPT_EIO);   /* no journal one level down */
    clpt_experiment_free(e);
}

static void test_repair(const char *tmp)
{
    char p[512], *text;
    size_t len;
    long cut;
    snprintf(p, sizeof p, "%s/repair.jsonl", tmp);
    CHECK(clpt_journal_repair(p, &cut) == 0 && cut == 0);   /* missing: fine */
    CHECK(write_file(p, "{\"a\":1}\n{\"b\":") == 0);
    CHECK(clpt_journal_repair(p, &cut) == 0 && cut == 5);
    CHECK(clpt_fs_read_file(p, 1 << 20, &text, &len) == 0 && !strcmp(text, "{\"a\":1}\n"));
    free(text);
    CHECK(clpt_journal_repair(p, &cut) == 0 && cut == 0);   /* idempotent */
    CHECK(write_file(p, "{\"b\":") == 0);
    CHECK(clpt_journal_repair(p, &cut) == 0 && cut == 5);
    CHECK(clpt_fs_read_file(p, 1 << 20, &text, &len) == 0 && len == 0);
    free(text);
}

int main(void)
{
    char tmp[] = "/tmp/clpt_test_journal_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_parse();
    test_torn_and_bad();
    test_dirs(tmp);
    test_repair(tmp);
    clpt_fs_remove_tree(tmp);
    CHECK_DONE();
}
