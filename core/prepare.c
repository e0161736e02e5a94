/* prepare.c - `clpt prepare` from top to bottom: check options, scan the
 * corpus, get the tokenizer (training one if asked), skip what is up to
 * date, encode the rest in parallel, write the manifest. See prepare.h. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "bpe_train.h"
#include "clpt.h"
#include "fsutil.h"
#include "prepare_impl.h"
#include "shard.h"
#include "textsrc.h"

#define DEFAULT_SHARD_TOKENS 100000000ULL

void clpt_prepare_opts_init(clpt_prepare_opts *o)
{
    *o = (clpt_prepare_opts){.depth = 1, .split = {0.9, 0.05, 0.05},
                             .shard_tokens = DEFAULT_SHARD_TOKENS};
}

/* ---- messages and progress --------------------------------------------------- */

static void vlog(prep_ctx *c, const char *pre, const char *fmt, va_list ap)
{
#pragma omp critical(clpt_prep_log)
    {
        fprintf(c->log, "%sclpt prepare: %s", c->bar.tty ? "\r\033[K" : "", pre);
        vfprintf(c->log, fmt, ap);
        fputc('\n', c->log);
        fflush(c->log);
        if (*pre == 'w') c->warnings++;
    }
}

void prep_log(prep_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(c, "", fmt, ap);
    va_end(ap);
}

void prep_warn(prep_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(c, "warning: ", fmt, ap);
    va_end(ap);
}

void prep_fail(prep_ctx *c, prep_domain *d)
{
    const char *msg = clpt_errmsg();
    prep_log(c, "error: %s", msg[0] ? msg : "unknown error");
    d->status = PREP_FAILED;
    if (!d->error) d->error = strdup(msg);
}

void prep_progress(prep_ctx *c, uint64_t n)
{
    uint64_t done;
#pragma omp atomic capture
    done = c->done_bytes += n;
    if (c->o->progress == 3) return;
    double now = clpt_now(), every = c->bar.tty ? 0.2 : 10.0;
    if (now - c->last_draw < every) return;
#pragma omp critical(clpt_prep_log)
    if (now - c->last_draw >= every) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d/%d domains", c->domains_done, c->domains_todo);
        uint64_t kb = done / 1000, total = c->bar.total;
        clpt_progress_update(&c->bar, kb < total ? kb : total ? total - 1 : kb, detail);
        c->last_draw = now;
    }
}

/* ---- options -------------------------------------------------------------------- */

static int check_opts(const clpt_prepare_opts *o)
{
    if (!o->root || !o->out || !o->tokenizer)
        return clpt_err(CLPT_EINVAL, "the corpus, the output folder and the tokenizer are "
                        "all required");
    const double *f = o->split;
    if (!(f[0] > 0) || !(f[1] >= 0) || !(f[2] >= 0) || fabs(f[0] + f[1] + f[2] - 1) > 1e-6)
        return clpt_err(CLPT_EINVAL, "--split %g,%g,%g: need train > 0, valid and test >= 0, "
                        "summing to 1", f[0], f[1], f[2]);
    if (o->depth < 1 || o->depth > 64)
        return clpt_err(CLPT_EINVAL, "--depth %d: must be 1..64", o->depth);
    if (o->shard_tokens > CLPT_SHARD_MAX_TOKENS)
        return clpt_err(CLPT_EINVAL, "--shard-tokens %llu: at most %llu (int32 header)",
                        (unsigned long long)o->shard_tokens,
                        (unsigned long long)CLPT_SHARD_MAX_TOKENS);
    if (o->jobs < 0 || o->train_vocab < 0 || (o->train_vocab && o->train_vocab < 257) ||
        o->train_vocab > 65536)
        return clpt_err(CLPT_EINVAL, "bad --jobs or --train-tokenizer value");
    return 0;
}

/* 1 if `path` (which need not exist yet: its nearest existing ancestor is
 * resolved) is `dir` or inside it. */
static int inside(const char *path, const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX], p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    while (!realpath(p, a)) {
        char *slash = strrchr(p, '/');
        if (!slash) snprintf(p, sizeof p, ".");  /* a relative name: its folder is "." */
        else if (slash == p) slash[1] = '\0';
        else *slash = '\0';
    }
    if (!realpath(dir, b)) return 0;
    size_t n = strlen(b);
    return !strncmp(a, b, n) && (a[n] == '/' || a[n] == '\0' || (n == 1 && b[0] == '/'));
}

/* One prepare at a time per output folder: the lock dies with the process. */
static int lock_out(const char *out, int *fd)
{
    char *p = clpt_fs_join(out, ".lock");
    if (!p) return clpt_err(CLPT_ENOMEM, "out of memory");
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    int rc = *fd < 0 ? clpt_err(CLPT_EIO, "%s: %s", p, strerror(errno)) : 0;
    if (!rc && flock(*fd, LOCK_EX | LOCK_NB) != 0)
        rc = clpt_err(CLPT_ESTATE, "%s: another clpt prepare is writing %s", p, out);
    free(p);
    return rc;
}

/* ---- the tokenizer ------------------------------------------------------------------ */

static int has_tokenizer(const char *dir)
{
    const char *names[][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        char *a = clpt_fs_join(dir, names[i][0]), *b = clpt_fs_join(dir, names[i][1]);
        found = a && b && clpt_fs_exists(a) && clpt_fs_exists(b);
        free(a);
        free(b);
    }
    return found;
}

/* Count a source's text into the trainer, cut only where pre-tokens end. */
static int train_source(prep_ctx *c, clpt_bpe_trainer *tr, clpt_textsrc *src, clpt_bytes *acc,
                        uint64_t *bytes)
{
    uint8_t buf[65536];
    ssize_t r;
    int rc = 0;
    acc->n = 0;
    while (!rc && (r = clpt_textsrc_read(src, buf, sizeof buf)) > 0) {
        *bytes += (uint64_t)r;
        rc = clpt_textsrc_bytes_add(acc, buf, (size_t)r);
        size_t cut = !rc && acc->n >= (1u << 20) ? prep_safe_cut(acc->p, acc->n) : 0;
        if (cut) {
            rc = clpt_bpe_trainer_add_text(tr, acc->p, cut);
            memmove(acc->p, acc->p + cut, acc->n - cut);
            acc->n -= cut;
        }
    }
    if (!rc && r < 0) rc = (int)r;
    if (!rc && acc->n) rc = clpt_bpe_trainer_add_text(tr, acc->p, acc->n);
    (void)c;
    return rc;
}

static int train_input(prep_ctx *c, clpt_bpe_trainer *tr, const prep_input *in,
                       clpt_bytes *acc, uint64_t *bytes)
{
    clpt_textsrc *src;
    int rc;
    if (in->split == CLPT_SPLIT_TRAIN) {
        if ((rc = clpt_textsrc_open_file(&src, in->path, in->html ? CLPT_TEXTSRC_HTML : 0)))
            return rc;
        rc = train_source(c, tr, src, acc, bytes);
        clpt_textsrc_close(src);
        return rc;
    }
    if (in->split != PREP_ARCHIVE) return 0;
    clpt_tar *t;
    clpt_tar_entry e;
    if ((rc = clpt_tar_open(&t, in->path))) return rc;
    while ((rc = clpt_tar_next(t, &e)) == 1) {
        const char *base = strrchr(e.name, '/');
        if (e.type != CLPT_TAR_FILE || strcmp(base ? base + 1 : e.name, "train.txt")) continue;
        if (!(rc = clpt_textsrc_open_tar(&src, t, e.name, 0))) {
            rc = train_source(c, tr, src, acc, bytes);
            clpt_textsrc_close(src);
        }
        break;
    }
    clpt_tar_close(t);
    return rc < 0 ? rc : 0;
}

/* Learn a BPE from the train split of every domain to be prepared. */
static int train_tokenizer(prep_ctx *c)
{
    clpt_bpe_trainer *tr;
    clpt_bytes acc = {0};
    uint64_t bytes = 0;
    double t0 = clpt_now();
    int rc = clpt_bpe_trainer_new(&tr);
    for (int i = 0; i < c->nd && !rc; i++)
        for (int k = 0; c->d[i].status == PREP_TODO && k < c->d[i].n_in && !rc; k++)
            rc = train_input(c, tr, &c->d[i].in[k], &acc, &bytes);
    clpt_bytes_free(&acc);
    clpt_bpe_train_opts to = {.vocab_size = c->o->train_vocab};
    if (!rc) rc = clpt_bpe_trainer_train(tr, &to);
    if (!rc) rc = clpt_bpe_trainer_write(tr, c->o->tokenizer);
    if (!rc)
        prep_log(c, "trained a %d-id BPE tokenizer on %.1f MB of train text in %.1f s: %s",
                 clpt_bpe_trainer_vocab_size(tr), bytes / 1e6, clpt_now() - t0,
                 c->o->tokenizer);
    clpt_bpe_trainer_free(tr);
    return rc ? clpt_err_wrap(rc, "training the tokenizer: ") : 0;
}

static int load_tokenizer(prep_ctx *c)
{
    int rc = 0;
    if (c->o->train_vocab && !has_tokenizer(c->o->tokenizer)) rc = train_tokenizer(c);
    if (!rc) rc = clpt_tokenizer_load(&c->tok, c->o->tokenizer);
    if (rc) return rc;
    int v = clpt_tokenizer_vocab_size(c->tok);
    c->eot = clpt_tokenizer_eot(c->tok);
    if (v > 65536)
        return clpt_err(CLPT_EUNSUP, "%s: %d token ids do not fit the uint16 shards",
                        c->o->tokenizer, v);
    if (c->eot < 0)
        return clpt_err(CLPT_EINVAL, "%s: the vocabulary has no %s token", c->o->tokenizer,
                        CLPT_EOT_TEXT);
    c->caches = calloc((size_t)c->jobs, sizeof *c->caches);
    for (int i = 0; c->caches && i < c->jobs; i++)
        if (!(c->caches[i] = clpt_tok_cache_new(c->tok))) return clpt_err(CLPT_ENOMEM, "out of memory");
    return c->caches ? 0 : clpt_err(CLPT_ENOMEM, "out of memory");
}

/* ---- running -------------------------------------------------------------------------- */

/* Fingerprint every domain; up-to-date ones are taken from their stamps. */
static void plan(prep_ctx *c)
{
    const char *sha = clpt_tokenizer_sha256(c->tok);
    for (int i = 0; i < c->nd; i++) {
        prep_domain *d = &c->d[i];
        if (d->status != PREP_TODO) continue;
        prep_fingerprint(c, d, sha);
        if (!c->o->force && prep_stamp_check(c, d)) {
            d->status = PREP_UPTODATE;
            continue;
        }
        c->domains_todo++;
        for (int k = 0; k < d->n_in; k++) c->total_bytes += d->in[k].disk_bytes;
    }
}

static int cmp_bytes_desc(const void *a, const void *b)
{
    const prep_domain *x = *(prep_domain *const *)a, *y = *(prep_domain *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Domains are tasks (largest first), and each domain's chunks are tasks of
 * their own, so many small domains and one huge one both use every core. */
static int run_domains(prep_ctx *c)
{
    prep_domain **todo = malloc((size_t)(c->nd ? c->nd : 1) * sizeof *todo);
    if (!todo) return clpt_err(CLPT_ENOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < c->nd; i++)
        if (c->d[i].status == PREP_TODO) todo[n++] = &c->d[i];
    qsort(todo, (size_t)n, sizeof *todo, cmp_bytes_desc);
    int mode = c->o->progress == 3 ? 2 : c->o->progress;
    clpt_progress_init(&c->bar, "prepare", "kB", c->total_bytes / 1000, mode, 1);
#pragma omp parallel num_threads(c->jobs)
#pragma omp single
    for (int i = 0; i < n; i++) {
        prep_domain *d = todo[i];
#pragma omp task firstprivate(d) shared(c)
        {
            prep_domain_run(c, d);
#pragma omp atomic
            c->domains_done++;
        }
    }
    if (n && c->o->progress != 3) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d/%d domains", c->domains_done, c->domains_todo);
        clpt_progress_update(&c->bar, c->bar.total, detail);
        clpt_progress_end(&c->bar);
    }
    c->bar.tty = 0;
    free(todo);
    return 0;
}

/* The manifest names the tokenizer relative to itself when it lies inside
 * the output folder (the dataset moves as one piece), else absolutely. */
static char *tokenizer_path(prep_ctx *c)
{
    char tok[PATH_MAX], out[PATH_MAX];
    if (!realpath(c->o->tokenizer, tok) || !realpath(c->o->out, out)) return strdup(c->o->tokenizer);
    size_t n = strlen(out);
    if (!strncmp(tok, out, n) && tok[n] == '/') return strdup(tok + n + 1);
    return strdup(tok);
}

static int write_manifest(prep_ctx *c)
{
    clpt_manifest *m;
    char *tp = tokenizer_path(c);
    int rc = tp ? clpt_manifest_new(&m, c->o->out) : clpt_err(CLPT_ENOMEM, "out of memory");
    if (rc) {
        free(tp);
        return rc;
    }
    rc = clpt_manifest_set_tokenizer(m, tp, clpt_tokenizer_sha256(c->tok),
                                     clpt_tokenizer_vocab_size(c->tok), c->eot);
    int order = 0;
    for (int i = 0; i < c->nd && !rc; i++) {
        prep_domain *d = &c->d[i];
        if (d->status != PREP_DONE && d->status != PREP_UPTODATE) continue;
        int idx;
        rc = clpt_manifest_add_domain(m, d->name, d->l1, d->l2, order++, &idx);
        for (int s = 0; s < CLPT_NSPLITS && !rc; s++)
            for (int k = 0; k < d->splits[s].n && !rc; k++) {
                char file[4096];
                snprintf(file, sizeof file, "%s/%s", d->name, d->splits[s].sh[k].file);
                rc = clpt_manifest_add_shard(m, idx, s, file, d->splits[s].sh[k].tokens,
                                             d->splits[s].sh[k].sha256);
            }
    }
    if (!rc) rc = clpt_manifest_write(m, NULL);
    clpt_manifest_free(m);
    free(tp);
    return rc;
}

static void remove_manifest(prep_ctx *c)
{
    char *p = clpt_fs_join(c->o->out, CLPT_MANIFEST_NAME);
    if (p && unlink(p) == 0) clpt_fs_fsync_parent(p);
    free(p);
}

static void summarize(prep_ctx *c, clpt_prepare_result *r)
{
    static const char *const what[] = {"todo", "up to date", "prepared", "FAILED", "left out"};
    if (c->o->progress != 3 && c->nd)
        fprintf(c->log, "  %-44s %-16s %11s  %6s %10s %9s %9s\n", "domain", "L1", "text",
                "tokens", "train", "valid", "test");
    for (int i = 0; i < c->nd; i++) {
        prep_domain *d = &c->d[i];
        uint64_t b = 0, *t = (uint64_t[3]){d->splits[0].tokens, d->splits[1].tokens,
                                            d->splits[2].tokens};
        for (int s = 0; s < CLPT_NSPLITS; s++) b += d->splits[s].bytes;
        r->domains += d->status == PREP_DONE || d->status == PREP_UPTODATE;
        r->prepared += d->status == PREP_DONE;
        r->skipped += d->status == PREP_UPTODATE;
        r->failed += d->status == PREP_FAILED;
        if (d->status == PREP_DONE) r->bytes += b, r->tokens += t[0] + t[1] + t[2];
        if (c->o->progress == 3 || d->status == PREP_DROPPED) continue;
        fprintf(c->log, "  %-44s %-16s %8.3f MB  tokens %10llu %9llu %9llu  %s\n", d->name,
                d->l1, b / 1e6, (unsigned long long)t[0], (unsigned long long)t[1],
                (unsigned long long)t[2], what[d->status]);
    }
    r->warnings = c->warnings;
}

/* List the failed domains in the error message. */
static int failure(prep_ctx *c, int failed)
{
    char names[1024] = "";
    size_t n = 0;
    for (int i = 0; i < c->nd && n < sizeof names - 64; i++)
        if (c->d[i].status == PREP_FAILED)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "",
                                  c->d[i].name);
    return clpt_err(CLPT_EFORMAT, "%d domain(s) failed (%s): see the errors above; fix the "
                    "input, or pass --skip-bad to leave them out", failed, names);
}

static int finish(prep_ctx *c, clpt_prepare_result *r)
{
    summarize(c, r);
    int rc = 0;
    if (r->failed && !c->o->skip_bad) {
        remove_manifest(c);
        return failure(c, r->failed);
    }
    if (r->failed) prep_warn(c, "%d failed domain(s) left out of the manifest", r->failed);
    if (!r->domains) rc = clpt_err(CLPT_EINVAL, "%s: no domain to write", c->o->root);
    if (!rc) rc = write_manifest(c);
    if (rc) remove_manifest(c);
    return rc;
}

static void ctx_free(prep_ctx *c)
{
    for (int i = 0; c->caches && i < c->jobs; i++) clpt_tok_cache_free(c->caches[i]);
    free(c->caches);
    for (int i = 0; i < c->nd; i++) prep_domain_clear(&c->d[i]);
    free(c->d);
    clpt_tokenizer_free(c->tok);
}

int clpt_prepare_run(const clpt_prepare_opts *o, clpt_prepare_result *res)
{
    clpt_prepare_result r = {0};
    prep_ctx c = {.o = o, .log = o->log ? o->log : stderr,
                  .jobs = o->jobs > 0 ? o->jobs : omp_get_num_procs(),
                  .shard_tokens = o->shard_tokens ? o->shard_tokens : DEFAULT_SHARD_TOKENS};
    const char *fault = getenv("CLPT_PREPARE_FAULT_AFTER");  /* test hook: see tests */
    c.fault_after = fault ? atol(fault) : 0;
    double t0 = clpt_now();
    int lock = -1, rc = check_opts(o);
    if (!rc && inside(o->out, o->root))
        rc = clpt_err(CLPT_EINVAL, "the output %s is inside the corpus %s", o->out, o->root);
    if (!rc) rc = clpt_fs_mkdir_p(o->out);
    if (!rc) rc = lock_out(o->out, &lock);
    if (!rc && !o->train_vocab && !has_tokenizer(o->tokenizer))
        rc = clpt_err(CLPT_EIO, "%s: no tokenizer there (vocab.json + merges.txt); "
                      "--train-tokenizer N trains one", o->tokenizer);
    if (!rc) rc = prep_scan(&c);
    if (!rc) rc = load_tokenizer(&c);
    if (!rc) {
        plan(&c);
        if (c.domains_todo) remove_manifest(&c);  /* it would describe a mix of old and new */
        rc = run_domains(&c);
    }
    if (!rc) rc = finish(&c, &r);
    r.seconds = clpt_now() - t0;
    r.warnings = c.warnings;
    if (res) *res = r;
    ctx_free(&c);
    if (lock >= 0) close(lock);
    return rc;
}
