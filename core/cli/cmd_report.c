/* cmd_report.c - `clpt report RUN_DIR... [-o report.html]`: rebuild the
 * comparison of runs from their journals. */
#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"
#include "journal.h"
#include "report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clpt report DIR... [-o report.html] [--title TEXT] [--split test|valid|train]\n"
            "                   [--summary]\n\n"
            "Read the results journals (journal.jsonl) of run directories - or of experiment\n"
            "directories holding run directories - and write one self-contained HTML page\n"
            "(tables, transfer curves, heatmaps, loss curves; no network needed) plus\n"
            "report.csv and report.md beside it. Runs whose directories share a parent share\n"
            "their zero-shot (ZS) and standalone fine-tuning (DAPT) cells. --summary prints\n"
            "the metric table instead of writing files. docs/metrics.md defines the metrics.\n");
}

int clpt_cmd_report(int argc, char **argv)
{
    const char *out = "report.html";
    clpt_report_opts o = {0};
    int summary = 0, ndirs = 0, rc = 1;
    clpt_experiment *e = NULL;
    if (clpt_experiment_new(&e)) goto fail;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            clpt_experiment_free(e);
            return 0;
        }
        if (!strcmp(a, "--summary")) summary = 1;
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) out = v, i++;
        else if (!strcmp(a, "--title") && v) o.title = v, i++;
        else if (!strcmp(a, "--split") && v) o.split = v, i++;
        else if (a[0] == '-') {
            fprintf(stderr, "clpt report: unknown or incomplete argument '%s'\n\n", a);
            usage(stderr);
            clpt_experiment_free(e);
            return 2;
        } else {
            if (clpt_experiment_add_dir(e, a)) goto fail;
            ndirs++;
        }
    }
    if (!ndirs) {
        usage(stderr);
        clpt_experiment_free(e);
        return 2;
    }
    if (summary) {
        if (clpt_report_summary(e, stdout, &o)) goto fail;
    } else {
        if (clpt_report_write(e, out, &o)) goto fail;
        printf("wrote %s (and .csv, .md beside it) from %d run%s\n", out,
               clpt_experiment_nruns(e), clpt_experiment_nruns(e) == 1 ? "" : "s");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "clpt report: %s\n", clpt_errmsg());
done:
    clpt_experiment_free(e);
    return rc;
}
