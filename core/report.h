/* report.h - reports rebuilt from results journals: one self-contained HTML
 * page (inline SVG, no script, no network), a CSV of every number and a
 * Markdown summary, plus the plain-text table `clpt run` prints at the end.
 *
 * Runs with checkpoint cells ("after:<n>") are compared side by side; runs
 * that only hold baseline cells (the base model's "base" cells, the
 * fine-tuned "dapt:<domain>" cells) feed ZS and DAPT to the runs of their
 * group (journal.h) and are listed as baselines. Missing metrics print as
 * "-", means over only some of their terms carry a "*". */
#ifndef CLPT_REPORT_H
#define CLPT_REPORT_H

#include <stdio.h>

#include "journal.h"

typedef struct clpt_report_opts {
    const char *title;   /* page title; NULL = "clpt report" */
    const char *split;   /* evaluation split to report; NULL = "test" */
} clpt_report_opts;

/* Write the HTML page to `html_path` and, beside it, the CSV and the
 * Markdown (same name with .csv / .md instead of the extension; a path
 * without one gets .html, .csv, .md added). Each file is written
 * atomically. 0 or a negative CLPT_E* code naming the file. */
int clpt_report_write(const clpt_experiment *e, const char *html_path,
                      const clpt_report_opts *opts);

/* The three formats to a stream (the caller owns f). */
int clpt_report_html(const clpt_experiment *e, FILE *f, const clpt_report_opts *opts);
int clpt_report_csv(const clpt_experiment *e, FILE *f, const clpt_report_opts *opts);
int clpt_report_markdown(const clpt_experiment *e, FILE *f, const clpt_report_opts *opts);

/* The summary table for a terminal: one column per compared run, one row
 * per metric. Prints nothing when no run has a schedule. */
int clpt_report_summary(const clpt_experiment *e, FILE *f, const clpt_report_opts *opts);

#endif
