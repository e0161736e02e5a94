/* prepare_domain.c - one domain's inputs -> documents -> token shards.
 *
 * Reading is sequential (one source at a time, a 64 KB block at a time);
 * documents are cut out of the byte stream by a small state machine and
 * appended to their split's pending text. Pending text is cut into chunks
 * of about 256 KB, always where the cut cannot change the encoding (a
 * document boundary, or an ASCII non-space -> space boundary, which no
 * GPT-2 pre-token spans), so chunked output equals whole-document output.
 * Chunks are encoded by OpenMP tasks a batch at a time, while the reader
 * fills the next batch (two batches in flight at most), and written in
 * order; memory is bounded by the batches, not by the input. Each finished
 * shard is hashed by a task of its own, so a huge domain's hashing runs
 * beside its encoding rather than after it. */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "fsutil.h"
#include "prepare_impl.h"
#include "sha256.h"
#include "shard.h"
#include "tar.h"
#include "textsrc.h"

#define CHUNK (256 * 1024)
#define HARD_CUT (16u << 20)      /* cut anyway when a text has no safe place */
#define READ_BLOCK (64 * 1024)
#define MAX_HELD (1u << 20)

typedef struct chunk {
    int split;
    uint8_t *text;
    size_t n;
    size_t *starts;               /* offsets where a document (and its end-of-text) begins */
    size_t n_starts;
    uint16_t *tok;
    size_t n_tok;
    int rc;
    char *err;
} chunk;

typedef struct out_split {
    clpt_bytes pend;              /* text not yet cut into a chunk */
    size_t *starts;
    size_t n_starts, cap_starts;
    clpt_shard_writer *w;
    char file[96];                /* the shard being written */
} out_split;

/* Document boundaries inside one input (see feed()). */
typedef struct docsplit {
    int in_doc, line_has, held_nl;
    clpt_bytes held;              /* white space after the document's last text */
} docsplit;

typedef struct batch {
    chunk *ch;
    int n;
} batch;

/* A shard's SHA-256, computed by a task; results are applied at the end. */
typedef struct hash_job {
    char *path;
    int split, index, rc;
    char sha[65];
    char *err;
} hash_job;

typedef struct job {
    prep_ctx *c;
    prep_domain *d;
    out_split out[CLPT_NSPLITS];
    batch b[2];                   /* b[cur] is being filled; b[!cur] may be encoding */
    int cur, inflight, cap;
    hash_job **hashes;
    int n_hashes;
    int warned_cut;
    int empty_warned[CLPT_NSPLITS];
    uint64_t seen;                /* disk bytes of the current input reported as progress */
    uint8_t *buf;                 /* READ_BLOCK bytes */
} job;

static int is_space(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

size_t prep_safe_cut(const uint8_t *p, size_t n)
{
    for (size_t i = n ? n - 1 : 0; i > 0; i--)
        if (is_space(p[i]) && p[i - 1] > 0x20 && p[i - 1] < 0x7f) return i;
    return 0;
}

/* ---- encoding and writing ------------------------------------------------------ */

static void encode_chunk(prep_ctx *c, chunk *ch)
{
    clpt_tok_cache *cache = c->caches[omp_get_thread_num()];
    clpt_ids ids = {0};
    int rc = 0;
    for (size_t k = 0; k <= ch->n_starts && !rc; k++) {
        size_t a = k ? ch->starts[k - 1] : 0, b = k < ch->n_starts ? ch->starts[k] : ch->n;
        if (k) rc = clpt_ids_push(&ids, c->eot);
        if (!rc && b > a) rc = clpt_tokenizer_encode(c->tok, cache, ch->text + a, b - a, 0, &ids);
    }
    if (!rc && !(ch->tok = malloc((ids.n ? ids.n : 1) * sizeof *ch->tok)))
        rc = clpt_err(CLPT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < ids.n; i++) ch->tok[i] = (uint16_t)ids.v[i];
    ch->n_tok = rc ? 0 : ids.n;
    clpt_ids_free(&ids);
    ch->rc = rc;
    if (rc) ch->err = strdup(clpt_errmsg());
}

static void hash_run(hash_job *h)
{
    h->rc = clpt_sha256_file(h->path, h->sha);
    if (h->rc) h->err = strdup(clpt_errmsg());
}

/* Hash the shard at `path` in a grandchild task: the domain's taskwaits
 * (children only) do not wait for it; the taskgroup around the domain
 * does. */
static int hash_later(job *j, int s, int index, char *path)
{
    hash_job *h = calloc(1, sizeof *h);
    hash_job **list = realloc(j->hashes, (size_t)(j->n_hashes + 1) * sizeof *list);
    if (!h || !list) {
        free(h);
        free(path);
        return clpt_err(CLPT_ENOMEM, "out of memory");
    }
    j->hashes = list;
    j->hashes[j->n_hashes++] = h;
    *h = (hash_job){.path = path, .split = s, .index = index};
#pragma omp task firstprivate(h)
    {
#pragma omp task firstprivate(h)
        hash_run(h);
    }
    return 0;
}

static int close_shard(job *j, int s)
{
    static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
    out_split *o = &j->out[s];
    uint64_t n = clpt_shard_writer_count(o->w);
    int rc = clpt_shard_writer_close(o->w);
    o->w = NULL;
    char *dir = clpt_fs_join(j->c->o->out, j->d->name);
    char *path = dir ? clpt_fs_join(dir, o->file) : NULL;
    if (!rc && !path) rc = clpt_err(CLPT_ENOMEM, "out of memory");
    if (!rc) rc = prep_split_add_shard(&j->d->splits[s], o->file, n, zeros);
    if (!rc) rc = hash_later(j, s, j->d->splits[s].n - 1, path);
    else free(path);
    free(dir);
    return rc;
}

/* After the domain's taskgroup: every hash is done. */
static int apply_hashes(job *j)
{
    int rc = 0;
    for (int i = 0; i < j->n_hashes; i++) {
        hash_job *h = j->hashes[i];
        if (!rc && h->rc) rc = clpt_err(h->rc, "%s", h->err ? h->err : "hashing failed");
        if (!rc) memcpy(j->d->splits[h->split].sh[h->index].sha256, h->sha, 65);
        free(h->path);
        free(h->err);
        free(h);
    }
    free(j->hashes);
    j->hashes = NULL;
    j->n_hashes = 0;
    return rc;
}

static int open_shard(job *j, int s)
{
    out_split *o = &j->out[s];
    snprintf(o->file, sizeof o->file, "%s_%04d.bin", clpt_split_name(s), j->d->splits[s].n);
    char *dir = clpt_fs_join(j->c->o->out, j->d->name);
    char *path = dir ? clpt_fs_join(dir, o->file) : NULL;
    int rc = path ? clpt_shard_writer_open(&o->w, path) : clpt_err(CLPT_ENOMEM, "out of memory");
    free(dir);
    free(path);
    return rc;
}

/* Append tokens to split s, starting a new shard file every shard_tokens. */
static int write_tokens(job *j, int s, const uint16_t *t, size_t n)
{
    out_split *o = &j->out[s];
    while (n > 0) {
        int rc = o->w ? 0 : open_shard(j, s);
        if (rc) return rc;
        uint64_t room = j->c->shard_tokens - clpt_shard_writer_count(o->w);
        size_t k = n < room ? n : (size_t)room;
        if ((rc = clpt_shard_writer_append(o->w, t, k))) return rc;
        t += k, n -= k;
        if (clpt_shard_writer_count(o->w) == j->c->shard_tokens && (rc = close_shard(j, s)))
            return rc;
    }
    return 0;
}

static void chunk_free(chunk *ch)
{
    free(ch->text);
    free(ch->starts);
    free(ch->tok);
    free(ch->err);
    memset(ch, 0, sizeof *ch);
}

static void fault_point(prep_ctx *c)
{
    long k;
#pragma omp atomic capture
    k = ++c->chunks_written;
    if (c->fault_after > 0 && k >= c->fault_after) raise(SIGKILL);  /* test hook only */
}

/* Start encoding the batch being filled; the reader moves to the other. */
static void submit(job *j)
{
    prep_ctx *c = j->c;
    batch *b = &j->b[j->cur];
    for (int i = 0; i < b->n; i++) {
        chunk *ch = &b->ch[i];
#pragma omp task firstprivate(ch) shared(c)
        encode_chunk(c, ch);
    }
    j->inflight = 1;
    j->cur ^= 1;
}

/* Wait for the batch being encoded and write it, in order. */
static int drain(job *j)
{
    if (!j->inflight) return 0;
#pragma omp taskwait
    batch *b = &j->b[j->cur ^ 1];
    int rc = 0;
    for (int i = 0; i < b->n; i++) {
        chunk *ch = &b->ch[i];
        if (!rc && ch->rc) rc = clpt_err(ch->rc, "%s", ch->err ? ch->err : "encoding failed");
        if (!rc) rc = write_tokens(j, ch->split, ch->tok, ch->n_tok);
        if (!rc) fault_point(j->c);
        chunk_free(ch);
    }
    b->n = 0;
    j->inflight = 0;
    return rc;
}

/* The batch being filled is full: write the previous one, encode this. */
static int batch_full(job *j)
{
    int rc = drain(j);
    if (!rc) submit(j);
    return rc;
}

/* ---- chunking ---------------------------------------------------------------------- */

/* Move pend[0..cut) of split s into a new chunk of the batch. */
static int make_chunk(job *j, int s, size_t cut)
{
    out_split *o = &j->out[s];
    batch *b = &j->b[j->cur];
    int rc = b->n == j->cap ? batch_full(j) : 0;
    if (rc) return rc;
    b = &j->b[j->cur];
    chunk *ch = &b->ch[b->n];
    size_t ns = 0;
    while (ns < o->n_starts && o->starts[ns] < cut) ns++;
    *ch = (chunk){.split = s, .n = cut, .n_starts = ns};
    /* the chunk takes the pending buffer; the tail moves to a new one */
    size_t tail = o->pend.n - cut, cap = tail + 2 * CHUNK + READ_BLOCK;
    uint8_t *fresh = malloc(cap);
    ch->starts = malloc((ns ? ns : 1) * sizeof *ch->starts);
    if (!fresh || !ch->starts) {
        free(fresh);
        chunk_free(ch);
        return clpt_err(CLPT_ENOMEM, "out of memory");
    }
    memcpy(fresh, o->pend.p + cut, tail);
    memcpy(ch->starts, o->starts, ns * sizeof *o->starts);
    ch->text = o->pend.p;
    o->pend = (clpt_bytes){.p = fresh, .n = tail, .cap = cap};
    for (size_t k = ns; k < o->n_starts; k++) o->starts[k - ns] = o->starts[k] - cut;
    o->n_starts -= ns;
    b->n++;
    return b->n == j->cap ? batch_full(j) : 0;
}

/* Cut split s's pending text if it has grown past two chunks. */
static int maybe_cut(job *j, int s, const char *name)
{
    out_split *o = &j->out[s];
    if (o->pend.n < 2 * CHUNK) return 0;
    size_t cut = prep_safe_cut(o->pend.p, o->pend.n);
    if (o->n_starts && o->starts[o->n_starts - 1] > cut) cut = o->starts[o->n_starts - 1];
    if (!cut && o->pend.n >= HARD_CUT) {
        cut = o->pend.n;
        while (cut > 1 && (o->pend.p[cut - 1] & 0xC0) == 0x80) cut--;
        if (cut > 1) cut--;  /* before the last character, whole or not */
        if (!j->warned_cut++)
            prep_warn(j->c, "%s: %u MB without an ASCII space: cut there, so the tokens "
                      "at the cut may differ from encoding the whole text", name,
                      HARD_CUT >> 20);
    }
    return cut ? make_chunk(j, s, cut) : 0;
}

static int doc_start(job *j, int s)
{
    out_split *o = &j->out[s];
    if (o->pend.n >= CHUNK) {
        int rc = make_chunk(j, s, o->pend.n);
        if (rc) return rc;
    }
    if (o->n_starts == o->cap_starts) {
        size_t cap = o->cap_starts ? o->cap_starts * 2 : 256;
        size_t *p = realloc(o->starts, cap * sizeof *p);
        if (!p) return clpt_err(CLPT_ENOMEM, "out of memory");
        o->starts = p;
        o->cap_starts = cap;
    }
    o->starts[o->n_starts++] = o->pend.n;
    j->d->splits[s].docs++;
    return 0;
}

static int emit(job *j, int s, const uint8_t *p, size_t n)
{
    j->d->splits[s].bytes += n;
    return clpt_textsrc_bytes_add(&j->out[s].pend, p, n);
}

/* ---- documents ------------------------------------------------------------------------ */

static void doc_end(docsplit *ds)
{
    ds->in_doc = ds->line_has = ds->held_nl = 0;
    ds->held.n = 0;
}

static int is_ws(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\r' || b == '\v' || b == '\f' || b == '\n';
}

/* White space after a document's last text is held back until more text
 * shows that it lies inside the document. */
static int hold(job *j, docsplit *ds, int s, const uint8_t *p, size_t n)
{
    if (!ds->in_doc || !n) return 0;
    int rc = clpt_textsrc_bytes_add(&ds->held, p, n);
    if (!rc && ds->held.n > MAX_HELD) {  /* a huge run of white space: let it through */
        rc = emit(j, s, ds->held.p, ds->held.n);
        ds->held.n = 0;
    }
    return rc;
}

/* Text in p[a..b) (a, b-1 not white space) on the current line, after
 * white space p[lead..a). */
static int text_span(job *j, docsplit *ds, int s, const uint8_t *p, size_t lead, size_t a,
                     size_t b)
{
    int rc = 0;
    if (!ds->in_doc) {
        rc = doc_start(j, s);
        ds->in_doc = 1;
        ds->held.n = 0;
    } else {
        rc = clpt_textsrc_bytes_add(&ds->held, p + lead, a - lead);
        if (!rc) rc = emit(j, s, ds->held.p, ds->held.n);
        ds->held.n = 0;
    }
    ds->held_nl = 0;
    ds->line_has = 1;
    return rc ? rc : emit(j, s, p + a, b - a);
}

/* Feed p[0..n) of an input to split s, a line (or the piece of one that
 * this block holds) at a time. A document's leading and trailing white
 * space is dropped; documents end at a blank line (BLANK), at every line
 * end (LINE) or only at the end of the input (FILE). */
static int feed(job *j, docsplit *ds, int s, const uint8_t *p, size_t n)
{
    int mode = j->c->docs, rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) : n, a = i, b = end;
        while (a < end && is_ws(p[a])) a++;
        while (b > a && is_ws(p[b - 1])) b--;
        if (a < end) rc = text_span(j, ds, s, p, i, a, b);
        if (!rc) rc = a < end ? hold(j, ds, s, p + b, end - b)  /* trailing white space */
                              : hold(j, ds, s, p + i, end - i); /* a blank piece of line */
        if (!nl || rc) break;
        i = end + 1;
        if (!ds->in_doc) continue;
        if (mode == CLPT_DOCS_LINE || (mode == CLPT_DOCS_BLANK && !ds->line_has && ds->held_nl)) {
            doc_end(ds);
            continue;
        }
        ds->held_nl++;
        ds->line_has = 0;
        rc = hold(j, ds, s, (const uint8_t *)"\n", 1);
    }
    return rc;
}

static void warn_stats(job *j, clpt_textsrc *src, int split)
{
    clpt_textsrc_stats st = clpt_textsrc_get_stats(src);
    const char *name = clpt_textsrc_name(src);
    if (st.invalid_utf8)
        prep_warn(j->c, "%s: %llu invalid UTF-8 sequence(s), the first at byte %llu: "
                  "encoded byte for byte", name, (unsigned long long)st.invalid_utf8,
                  (unsigned long long)st.first_invalid);
    if (st.nul_bytes)
        prep_warn(j->c, "%s: %llu NUL byte(s): is it text?", name,
                  (unsigned long long)st.nul_bytes);
    if (!st.bytes && j->c->layout == CLPT_LAYOUT_M2D2 && !j->empty_warned[split]++)
        prep_warn(j->c, "%s: empty: the %s split of domain %s gets no text from it", name,
                  clpt_split_name(split), j->d->name);
}

/* Progress counts input file bytes (compressed ones for gzip): their total
 * is known exactly before the run. */
static void progress(job *j, uint64_t consumed)
{
    if (consumed > j->seen) prep_progress(j->c, consumed - j->seen), j->seen = consumed;
}

/* Stream one source (a file, or a member of `tar`) into split s. */
static int run_source(job *j, clpt_textsrc *src, clpt_tar *tar, int s)
{
    docsplit ds = {0};
    ssize_t r;
    int rc = 0;
    while (!rc && (r = clpt_textsrc_read(src, j->buf, READ_BLOCK)) > 0) {
        rc = feed(j, &ds, s, j->buf, (size_t)r);
        if (!rc) rc = maybe_cut(j, s, clpt_textsrc_name(src));
        progress(j, tar ? clpt_tar_consumed(tar) : clpt_textsrc_consumed(src));
    }
    if (!rc && r < 0) rc = (int)r;
    clpt_bytes_free(&ds.held);
    if (!rc) warn_stats(j, src, s);
    return rc;
}

static int split_of_member(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        char want[16];
        snprintf(want, sizeof want, "%s.txt", clpt_split_name(s));
        if (!strcmp(base, want)) return s;
    }
    return -1;
}

/* An M2D2 archive: its <domain>/<split>.txt members, each exactly once. */
static int run_archive(job *j, const prep_input *in)
{
    clpt_tar *t;
    int rc = clpt_tar_open(&t, in->path), seen[CLPT_NSPLITS] = {0}, more;
    if (rc) return rc;
    clpt_tar_entry e;
    while (!rc && (more = clpt_tar_next(t, &e)) == 1) {
        int s = e.type == CLPT_TAR_FILE ? split_of_member(e.name) : -2;
        if (s == -1) prep_warn(j->c, "%s: member %s is not a split file: ignored", in->path, e.name);
        if (s < 0) continue;
        if (seen[s]++) {
            rc = clpt_err(CLPT_EFORMAT, "%s: a second %s.txt (%s)", in->path,
                          clpt_split_name(s), e.name);
            break;
        }
        char label[4096];
        snprintf(label, sizeof label, "%s:%s", in->path, e.name);
        clpt_textsrc *src;
        if (!(rc = clpt_textsrc_open_tar(&src, t, label, 0))) {
            rc = run_source(j, src, t, s);
            clpt_textsrc_close(src);
        }
        if (rc) rc = clpt_err_wrap(rc, "member %s: ", e.name);
    }
    if (!rc && more < 0) rc = more;
    for (int s = 0; !rc && s < CLPT_NSPLITS; s++)
        if (!seen[s])
            rc = clpt_err(CLPT_EFORMAT, "%s: no %s.txt in the archive (domain %s)", in->path,
                          clpt_split_name(s), j->d->name);
    clpt_tar_close(t);
    return rc;
}

static int run_inputs(job *j)
{
    int rc = 0;
    for (int i = 0; i < j->d->n_in && !rc; i++) {
        const prep_input *in = &j->d->in[i];
        clpt_textsrc *src;
        j->seen = 0;
        if (in->split == PREP_ARCHIVE) {
            rc = run_archive(j, in);
        } else if (!(rc = clpt_textsrc_open_file(&src, in->path,
                                                 in->html ? CLPT_TEXTSRC_HTML : 0))) {
            rc = run_source(j, src, NULL, in->split);
            clpt_textsrc_close(src);
        }
        progress(j, in->disk_bytes);
    }
    for (int s = 0; s < CLPT_NSPLITS && !rc; s++)
        if (j->out[s].pend.n) rc = make_chunk(j, s, j->out[s].pend.n);
    if (!rc && j->b[j->cur].n) rc = batch_full(j);
    int rc2 = drain(j);  /* also after an error: tasks must not outlive the job */
    if (!rc) rc = rc2;
    for (int s = 0; s < CLPT_NSPLITS && !rc; s++)
        if (j->out[s].w) rc = close_shard(j, s);
    return rc;
}

/* The file split s of an M2D2 domain comes from, for messages. */
static const char *split_source(const prep_domain *d, int s)
{
    for (int i = 0; i < d->n_in; i++)
        if (d->in[i].split == s || d->in[i].split == PREP_ARCHIVE) return d->in[i].path;
    return d->name;
}

static int check_text(job *j)
{
    prep_domain *d = j->d;
    uint64_t docs = 0;
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        docs += d->splits[s].docs;
        if (!d->splits[s].docs && j->c->layout == CLPT_LAYOUT_M2D2 && !j->empty_warned[s])
            prep_warn(j->c, "%s: no documents, only white space: the %s split of domain %s "
                      "is empty", split_source(d, s), clpt_split_name(s), d->name);
    }
    if (!docs) return clpt_err(CLPT_EFORMAT, "domain %s: no text in any split (empty domain)",
                               d->name);
    return 0;
}

static void job_free(job *j)
{
    for (int k = 0; k < 2; k++) {
        for (int i = 0; j->b[k].ch && i < j->b[k].n; i++) chunk_free(&j->b[k].ch[i]);
        free(j->b[k].ch);
    }
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        clpt_shard_writer_abort(j->out[s].w);
        clpt_bytes_free(&j->out[s].pend);
        free(j->out[s].starts);
    }
    free(j->buf);
}

void prep_domain_run(prep_ctx *c, prep_domain *d)
{
    job j = {.c = c, .d = d, .cap = 2 * c->jobs};
    char *dir = clpt_fs_join(c->o->out, d->name);
    int rc = !dir ? clpt_err(CLPT_ENOMEM, "out of memory") : clpt_fs_mkdir_p(dir);
    free(dir);
    if (!rc) rc = prep_stamp_remove(c, d);
    if (!rc) rc = prep_clean_dir(c, d, 0);
    if (!rc && (!(j.b[0].ch = calloc((size_t)j.cap, sizeof(chunk))) ||
                !(j.b[1].ch = calloc((size_t)j.cap, sizeof(chunk))) ||
                !(j.buf = malloc(READ_BLOCK))))
        rc = clpt_err(CLPT_ENOMEM, "out of memory");
    for (int s = 0; s < CLPT_NSPLITS; s++) prep_split_clear(&d->splits[s]);
    if (!rc) {
#pragma omp taskgroup
        rc = run_inputs(&j);
    }
    int rc2 = apply_hashes(&j);  /* the taskgroup waited for the hash tasks */
    if (!rc) rc = rc2;
    if (!rc) rc = check_text(&j);
    job_free(&j);
    if (!rc) rc = prep_clean_dir(c, d, 1);
    if (!rc) rc = prep_stamp_write(c, d);
    if (rc) {
        prep_fail(c, d);
        for (int s = 0; s < CLPT_NSPLITS; s++) prep_split_clear(&d->splits[s]);
        prep_clean_dir(c, d, 0);  /* complete shards of a failed domain would mislead */
    } else {
        d->status = PREP_DONE;
    }
}
