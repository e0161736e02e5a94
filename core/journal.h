/* journal.h - read results journals (docs/journal.md) into an experiment.
 *
 * An experiment is every run found in one or more run directories. A run
 * directory holds <dir>/journal.jsonl; an experiment directory holds run
 * directories one level down. Runs are keyed by (directory, "run" name), so
 * a journal may carry several runs and a resumed run's events merge into
 * the one run. Runs whose directories share a parent form a group: the
 * base model's cells (ZS) and the standalone fine-tuning cells (DAPT) are
 * looked up across the runs of a group, as docs/journal.md says.
 *
 * Tolerance: a final line that does not parse is a write torn by a kill and
 * is skipped (counted in clpt_jrun.torn_lines); any other bad line - JSON
 * that does not parse, a missing or ill-typed field, a "v" above 1 - is
 * CLPT_EFORMAT naming "file:line". Unknown events and keys are ignored. A
 * cell written twice keeps its last value.
 *
 * Every pointer handed out is owned by the experiment and valid until
 * clpt_experiment_free(). */
#ifndef CLPT_JOURNAL_H
#define CLPT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define CLPT_JOURNAL_NAME "journal.jsonl"
#define CLPT_JOURNAL_VERSION 1

/* One evaluation cell; fields a line leaves out are NaN. */
typedef struct clpt_jcell {
    const char *model;    /* "base", "after:<n>", "dapt:<domain>" */
    int index;            /* n of "after:<n>", 0 for base, -1 when absent */
    const char *domain;   /* evaluated domain */
    const char *split;    /* "test" unless the line says otherwise */
    double ppl, nll, rank_mean, rank_median, top1;
    double tokens;
    double time;
} clpt_jcell;

/* One `train` event. */
typedef struct clpt_jtrain {
    int index;            /* position n of the domain in the schedule */
    const char *domain;
    double step, global_step, tokens;
    double loss, lr, grad_norm, tokens_per_s;
    double time;
} clpt_jtrain;

/* What the journal says about schedule position `index`. */
typedef struct clpt_jdomain {
    int index;            /* 1-based */
    const char *domain;
    int begun, ended;     /* saw domain_begin / domain_end */
    double steps, tokens, seconds;  /* from domain_end; NaN before */
    const char *checkpoint;         /* relative to the run dir; NULL before */
} clpt_jdomain;

typedef struct clpt_jrun {
    const char *name;     /* the "run" field */
    const char *dir;      /* run directory as given */
    const char *journal;  /* path of the journal file */
    int group;            /* runs with the same group share ZS and DAPT cells */
    const char *strategy; /* from the last `run` event; NULL if none was seen */
    int n_sched;
    const char *const *schedule;    /* [n_sched] domain names, training order */
    const struct cJSON *options, *model, *config;   /* objects or NULL */
    const struct cJSON *device;   /* the last `run` event's device object, or NULL */
    double seed;
    int starts;           /* `run` events: 1 + number of resumes */
    int finished;         /* saw run_end */
    double seconds;       /* from run_end; NaN before */
    double first_time, last_time;   /* Unix seconds of its first/last event */
    int n_cells, n_train;
    const clpt_jcell *cells;
    const clpt_jtrain *train;
    int n_domains;        /* >= n_sched once a schedule is known */
    const clpt_jdomain *domains;    /* [n_domains], entry n-1 for position n */
    int torn_lines;       /* torn final lines skipped in its journal */
} clpt_jrun;

typedef struct clpt_experiment clpt_experiment;

/* An empty experiment; caller frees with clpt_experiment_free(). */
int clpt_experiment_new(clpt_experiment **out);
void clpt_experiment_free(clpt_experiment *e);

/* Add the runs of `dir`: a run directory (has journal.jsonl) or an
 * experiment directory (its subdirectories that have one, in name order).
 * CLPT_EIO when neither; CLPT_EFORMAT for a bad journal line. On failure
 * the experiment keeps the runs of the journals read before the bad one. */
int clpt_experiment_add_dir(clpt_experiment *e, const char *dir);

/* Add the runs of one journal file; runs are labelled with directory `dir`
 * (NULL = the file's directory). */
int clpt_experiment_add_journal(clpt_experiment *e, const char *path, const char *dir);

/* Parse journal text held in memory (`len` bytes); `name` labels error
 * messages, `dir` the runs' directory. */
int clpt_experiment_parse(clpt_experiment *e, const char *text, size_t len,
                          const char *name, const char *dir);

int clpt_experiment_nruns(const clpt_experiment *e);
const clpt_jrun *clpt_experiment_run(const clpt_experiment *e, int i);
/* Index of the run named `name` (first match), or -1. */
int clpt_experiment_find(const clpt_experiment *e, const char *name);

/* Which value of a cell a matrix holds. */
typedef enum {
    CLPT_MEASURE_PPL,
    CLPT_MEASURE_NLL,
    CLPT_MEASURE_RANK_MEAN,
    CLPT_MEASURE_RANK_MEDIAN,
    CLPT_MEASURE_TOP1,
    CLPT_MEASURE_COUNT
} clpt_measure;

/* "ppl", "nll", "rank_mean", "rank_median", "top1"; NULL if out of range. */
const char *clpt_measure_name(int measure);

/* The cell (model, domain, split) of run `run` (NULL split = "test"), or
 * NULL. For "base" and "dapt:" models the run's own cell comes first, then
 * any run of its group. */
const clpt_jcell *clpt_experiment_cell(const clpt_experiment *e, int run, const char *model,
                                       const char *domain, const char *split);

/* The checkpoint x domain matrix of run `run` in its schedule order
 * (metrics.h's clpt_cl_matrix layout): zs[N], dapt[N], p[N*N], NaN where
 * the journal has no cell. Caller frees the three arrays with free(); any
 * pointer may be NULL to skip that part. CLPT_EINVAL if the run has no
 * schedule; CLPT_ENOMEM. */
int clpt_experiment_matrix(const clpt_experiment *e, int run, int measure, const char *split,
                           double **zs, double **dapt, double **p);

/* If the journal at `path` ends in a torn line (no final newline), cut it
 * off so that appending starts on a fresh line; *cut (may be NULL) gets the
 * bytes removed. A missing file is fine (0 bytes). For writers that resume. */
int clpt_journal_repair(const char *path, long *cut);

#endif
