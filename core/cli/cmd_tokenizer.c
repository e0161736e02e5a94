/* cmd_tokenizer.c - `clpt tokenizer encode|decode|train|info|bench`. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpe_train.h"
#include "clpt.h"
#include "commands.h"
#include "tokenizer.h"
#include "unicode.h"

static const char usage_main[] =
    "usage: clpt tokenizer COMMAND [ARGS]\n\n"
    "GPT-2 byte-level BPE (vocab.json + merges.txt, or encoder.json + vocab.bpe).\n\n"
    "commands:\n"
    "  encode   text -> token ids\n"
    "  decode   token ids -> text\n"
    "  train    learn a byte-level BPE from text files\n"
    "  info     vocabulary size, end-of-text id and SHA-256 of a tokenizer\n"
    "  bench    time encoding (no I/O) in MB/s\n\n"
    "'clpt tokenizer COMMAND --help' describes a command.\n";

static const char usage_encode[] =
    "usage: clpt tokenizer encode --tokenizer DIR [--allow-special] [FILE]\n\n"
    "Encodes the whole of FILE (or standard input) and prints its token ids\n"
    "as one line of space-separated integers. The input may be any bytes.\n\n"
    "  -t, --tokenizer DIR  directory with vocab.json + merges.txt\n"
    "  --allow-special      read the text \"<|endoftext|>\" as the end-of-text\n"
    "                       token (default: as ordinary text, like tiktoken's\n"
    "                       encode_ordinary)\n";

static const char usage_decode[] =
    "usage: clpt tokenizer decode --tokenizer DIR [FILE]\n\n"
    "Reads token ids (integers separated by white space) from FILE or standard\n"
    "input and writes the bytes they stand for to standard output.\n\n"
    "  -t, --tokenizer DIR  directory with vocab.json + merges.txt\n";

static const char usage_train[] =
    "usage: clpt tokenizer train --vocab-size N [--min-frequency K] CORPUS... -o DIR\n\n"
    "Learns a GPT-2-style byte-level BPE and writes DIR/vocab.json and\n"
    "DIR/merges.txt. CORPUS is a text file, or a directory whose *.txt files\n"
    "are read recursively. Ids: 256 byte tokens, the learned tokens, then\n"
    "<|endoftext|> last. Each step merges the most frequent adjacent pair;\n"
    "ties go to the smaller left id, then the smaller right id.\n\n"
    "  --vocab-size N       ids in all, >= 257\n"
    "  --min-frequency K    stop when no pair occurs K times (default 2)\n"
    "  -o, --output DIR     where to write (created if missing)\n"
    "  -q, --quiet          no progress lines\n";

static const char usage_info[] =
    "usage: clpt tokenizer info --tokenizer DIR\n\n"
    "Prints the files, vocabulary size, end-of-text id, SHA-256 of the files\n"
    "(sha256 = of vocab file then merges file, as `cat V M | sha256sum`), and\n"
    "the Unicode version of the pre-tokenizer.\n";

static const char usage_bench[] =
    "usage: clpt tokenizer bench --tokenizer DIR [--repeat R] FILE...\n\n"
    "Reads the files into memory, then encodes their concatenation R times\n"
    "(default 3) on one thread, each time with a fresh cache, and prints the\n"
    "best time as MB/s (1 MB = 1e6 bytes).\n";

/* ---- helpers ---------------------------------------------------------------- */

static int fail(void)
{
    fprintf(stderr, "clpt tokenizer: %s\n", clpt_errmsg());
    return 1;
}

static int is_opt(const char *arg, const char *s, const char *l)
{
    return (s && !strcmp(arg, s)) || !strcmp(arg, l);
}

/* The value of an option that takes one, or NULL after printing why. */
static const char *opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "clpt tokenizer: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++)
        if (is_opt(argv[i], "-h", "--help")) {
            fputs(usage, stdout);
            return 1;
        }
    return 0;
}

static int slurp(FILE *f, const char *name, clpt_bytes *out)
{
    size_t got;
    do {
        if (out->cap - out->n < 65536) {
            size_t cap = out->cap ? out->cap * 2 : 1 << 20;
            uint8_t *p = realloc(out->p, cap);
            if (!p) return clpt_err(CLPT_ENOMEM, "%s: out of memory", name);
            out->p = p;
            out->cap = cap;
        }
        got = fread(out->p + out->n, 1, out->cap - out->n, f);
        out->n += got;
    } while (got > 0);
    if (ferror(f)) return clpt_err(CLPT_EIO, "%s: read error", name);
    return 0;
}

/* Append the contents of path ("-" or NULL = standard input) to *out. */
static int read_input(const char *path, clpt_bytes *out)
{
    if (!path || !strcmp(path, "-")) return slurp(stdin, "<stdin>", out);
    FILE *f = fopen(path, "rb");
    if (!f) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    int rc = slurp(f, path, out);
    fclose(f);
    return rc;
}

/* Common options of encode/decode/info/bench; the rest go to args[]. */
typedef struct tok_args {
    const char *dir;
    int allow_special, repeat;
    const char *files[256];
    int n_files;
} tok_args;

static int parse_tok_args(int argc, char **argv, tok_args *a)
{
    *a = (tok_args){.repeat = 3};
    for (int i = 1; i < argc; i++) {
        if (is_opt(argv[i], "-t", "--tokenizer")) {
            if (!(a->dir = opt_value(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--allow-special")) {
            a->allow_special = 1;
        } else if (!strcmp(argv[i], "--repeat")) {
            const char *v = opt_value(argc, argv, &i);
            if (!v || (a->repeat = atoi(v)) < 1) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clpt tokenizer %s: unknown option '%s'\n", argv[0], argv[i]);
            return 2;
        } else if (a->n_files < 256) {
            a->files[a->n_files++] = argv[i];
        }
    }
    if (!a->dir) {
        fprintf(stderr, "clpt tokenizer %s: --tokenizer DIR is required\n", argv[0]);
        return 2;
    }
    return 0;
}

/* ---- encode / decode ----------------------------------------------------------- */

static int write_ids(const clpt_ids *ids)
{
    char buf[1 << 16];
    size_t n = 0;
    for (size_t i = 0; i < ids->n; i++) {
        if (n > sizeof buf - 16) {
            fwrite(buf, 1, n, stdout);
            n = 0;
        }
        n += (size_t)snprintf(buf + n, 16, i ? " %ld" : "%ld", (long)ids->v[i]);
    }
    buf[n++] = '\n';
    fwrite(buf, 1, n, stdout);
    return fflush(stdout) ? clpt_err(CLPT_EIO, "<stdout>: %s", strerror(errno)) : 0;
}

static int cmd_encode(int argc, char **argv)
{
    if (wants_help(argc, argv, usage_encode)) return 0;
    tok_args a;
    int rc = parse_tok_args(argc, argv, &a);
    if (rc) return rc;
    if (a.n_files > 1) {
        fprintf(stderr, "clpt tokenizer encode: one FILE at most\n");
        return 2;
    }
    clpt_tokenizer *tok = NULL;
    clpt_bytes text = {0};
    clpt_ids ids = {0};
    rc = clpt_tokenizer_load(&tok, a.dir);
    if (!rc) rc = read_input(a.n_files ? a.files[0] : NULL, &text);
    if (!rc) rc = clpt_tokenizer_encode(tok, NULL, text.p, text.n,
                                        a.allow_special ? CLPT_TOK_ALLOW_SPECIAL : 0, &ids);
    if (!rc) rc = write_ids(&ids);
    clpt_ids_free(&ids);
    clpt_bytes_free(&text);
    clpt_tokenizer_free(tok);
    return rc ? fail() : 0;
}

static int line_at(const uint8_t *p, const uint8_t *at)
{
    int line = 1;
    for (; p < at; p++) line += *p == '\n';
    return line;
}

/* Parse white-space separated integers; errors give the line. */
static int parse_ids(const char *name, const clpt_bytes *in, clpt_ids *ids)
{
    const uint8_t *p = in->p, *end = in->p + in->n;
    while (p < end) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        }
        long v = 0;
        const uint8_t *start = p;
        int neg = *p == '-';
        p += neg;
        while (p < end && *p >= '0' && *p <= '9' && v <= INT32_MAX) v = v * 10 + (*p++ - '0');
        int sep = p == end || *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
        if (p == start + neg || !sep || v > INT32_MAX)
            return clpt_err(CLPT_EFORMAT, "%s:%d: not a token id: \"%.*s\"", name,
                            line_at(in->p, start), (int)(p - start + 1 > 20 ? 20 : p - start + 1),
                            (const char *)start);
        if (clpt_ids_push(ids, (int32_t)(neg ? -v : v))) return CLPT_ENOMEM;
    }
    return 0;
}

static int cmd_decode(int argc, char **argv)
{
    if (wants_help(argc, argv, usage_decode)) return 0;
    tok_args a;
    int rc = parse_tok_args(argc, argv, &a);
    if (rc) return rc;
    if (a.n_files > 1) {
        fprintf(stderr, "clpt tokenizer decode: one FILE at most\n");
        return 2;
    }
    const char *name = a.n_files ? a.files[0] : "<stdin>";
    clpt_tokenizer *tok = NULL;
    clpt_bytes in = {0}, out = {0};
    clpt_ids ids = {0};
    rc = clpt_tokenizer_load(&tok, a.dir);
    if (!rc) rc = read_input(a.n_files ? a.files[0] : NULL, &in);
    if (!rc) rc = parse_ids(name, &in, &ids);
    if (!rc && (rc = clpt_tokenizer_decode(tok, ids.v, ids.n, &out)))
        clpt_err_wrap(rc, "%s: ", name);
    if (!rc && (fwrite(out.p, 1, out.n, stdout) != out.n || fflush(stdout)))
        rc = clpt_err(CLPT_EIO, "<stdout>: %s", strerror(errno));
    clpt_ids_free(&ids);
    clpt_bytes_free(&in);
    clpt_bytes_free(&out);
    clpt_tokenizer_free(tok);
    return rc ? fail() : 0;
}

/* ---- info / bench -------------------------------------------------------------- */

static int cmd_info(int argc, char **argv)
{
    if (wants_help(argc, argv, usage_info)) return 0;
    tok_args a;
    int rc = parse_tok_args(argc, argv, &a);
    if (rc) return rc;
    clpt_tokenizer *tok;
    if (clpt_tokenizer_load(&tok, a.dir)) return fail();
    int eot = clpt_tokenizer_eot(tok);
    printf("vocab          %s\nmerges         %s\nvocab_size     %d\n",
           clpt_tokenizer_vocab_path(tok), clpt_tokenizer_merges_path(tok),
           clpt_tokenizer_vocab_size(tok));
    if (eot >= 0) printf("eot            %d\n", eot);
    else printf("eot            none\n");
    printf("sha256         %s\nvocab_sha256   %s\nmerges_sha256  %s\nunicode        %s\n",
           clpt_tokenizer_sha256(tok), clpt_tokenizer_vocab_sha256(tok),
           clpt_tokenizer_merges_sha256(tok), clpt_unicode_version());
    clpt_tokenizer_free(tok);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench_run(const clpt_tokenizer *tok, const clpt_bytes *text, int repeat)
{
    double best = 1e30;
    size_t ntok = 0;
    for (int r = 0; r < repeat; r++) {
        clpt_ids ids = {0};
        clpt_tok_cache *cache = clpt_tok_cache_new(tok);
        if (!cache) return clpt_err(CLPT_ENOMEM, "out of memory");
        double t0 = now_s();
        int rc = clpt_tokenizer_encode(tok, cache, text->p, text->n, 0, &ids);
        double dt = now_s() - t0;
        clpt_tok_cache_free(cache);
        ntok = ids.n;
        clpt_ids_free(&ids);
        if (rc) return rc;
        if (dt < best) best = dt;
    }
    printf("bytes %zu tokens %zu seconds %.4f MB/s %.2f\n", text->n, ntok, best,
           (double)text->n / best / 1e6);
    return 0;
}

static int cmd_bench(int argc, char **argv)
{
    if (wants_help(argc, argv, usage_bench)) return 0;
    tok_args a;
    int rc = parse_tok_args(argc, argv, &a);
    if (rc) return rc;
    if (!a.n_files) {
        fprintf(stderr, "clpt tokenizer bench: give at least one FILE\n");
        return 2;
    }
    clpt_tokenizer *tok = NULL;
    clpt_bytes text = {0};
    rc = clpt_tokenizer_load(&tok, a.dir);
    for (int i = 0; !rc && i < a.n_files; i++) rc = read_input(a.files[i], &text);
    if (!rc) rc = bench_run(tok, &text, a.repeat);
    clpt_bytes_free(&text);
    clpt_tokenizer_free(tok);
    return rc ? fail() : 0;
}

/* ---- train ------------------------------------------------------------------- */

static int train_run(const char *const *corpus, int n, const clpt_bpe_train_opts *o,
                     const char *outdir)
{
    clpt_bpe_trainer *tr;
    int rc = clpt_bpe_trainer_new(&tr);
    for (int i = 0; !rc && i < n; i++) rc = clpt_bpe_trainer_add_path(tr, corpus[i]);
    if (!rc) rc = clpt_bpe_trainer_train(tr, o);
    if (!rc) rc = clpt_bpe_trainer_write(tr, outdir);
    if (!rc && o->log)
        fprintf(o->log, "bpe train: wrote %s/vocab.json and %s/merges.txt (%d ids)\n", outdir,
                outdir, clpt_bpe_trainer_vocab_size(tr));
    clpt_bpe_trainer_free(tr);
    return rc;
}

static int cmd_train(int argc, char **argv)
{
    if (wants_help(argc, argv, usage_train)) return 0;
    clpt_bpe_train_opts o = {.log = stderr};
    const char *outdir = NULL, *v;
    const char **corpus = calloc((size_t)argc, sizeof *corpus);
    int n = 0, rc = 0;
    if (!corpus) return 1;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--vocab-size")) {
            rc = (v = opt_value(argc, argv, &i)) ? (o.vocab_size = atoi(v), 0) : 2;
        } else if (!strcmp(argv[i], "--min-frequency")) {
            rc = (v = opt_value(argc, argv, &i)) ? (o.min_frequency = atoi(v), 0) : 2;
        } else if (is_opt(argv[i], "-o", "--output")) {
            rc = (outdir = opt_value(argc, argv, &i)) ? 0 : 2;
        } else if (is_opt(argv[i], "-q", "--quiet")) {
            o.log = NULL;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clpt tokenizer train: unknown option '%s'\n", argv[i]);
            rc = 2;
        } else {
            corpus[n++] = argv[i];
        }
    }
    if (!rc && (!outdir || !n || o.vocab_size < 257)) {
        fprintf(stderr, "clpt tokenizer train: need --vocab-size N (>= 257), CORPUS and -o DIR\n");
        rc = 2;
    }
    if (!rc && train_run(corpus, n, &o, outdir)) rc = fail();
    free(corpus);
    return rc;
}

int clpt_cmd_tokenizer(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } sub[] = {{"encode", cmd_encode}, {"decode", cmd_decode}, {"train", cmd_train},
               {"info", cmd_info}, {"bench", cmd_bench}};
    if (argc < 2 || is_opt(argv[1], "-h", "--help")) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
        if (!strcmp(argv[1], sub[i].name)) return sub[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "clpt tokenizer: unknown command '%s'\n\n%s", argv[1], usage_main);
    return 2;
}
