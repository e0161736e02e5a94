/* test_config.c - the ini configuration: defaults, presets, the loader's
 * error messages (file:line, key, what is valid), overrides, validation,
 * the shipped configs/ files, --show round trip, and configs/README.md
 * against `clpt config --doc`. Data files: tests/data/config/. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "clpt.h"
#include "backend.h"
#include "config.h"

static const char *srcdir;

static int load_data(clpt_config *cfg, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/data/config/%s", srcdir, name);
    return clpt_config_load(cfg, path);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (buf) buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* rc is `code` and the message holds every needle. */
static void expect_err(const char *what, int rc, int code, const char *const *needles)
{
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", what, rc, code, clpt_errmsg());
    for (; *needles; needles++)
        CHECK_MSG(strstr(clpt_errmsg(), *needles), "%s: message lacks '%s': %s", what,
                  *needles, clpt_errmsg());
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_defaults(void)
{
    clpt_config c;
    CHECK(clpt_config_defaults(&c) == 0);
    CHECK_MSG(clpt_config_validate(&c) == 0, "%s", clpt_errmsg());
    CHECK(c.model.preset == CLPT_PRESET_GPT2);
    CHECK(c.train.batch_size == 16 && c.train.steps > 0 && c.train.tokens == 0);
    CHECK_CLOSE(c.optim.beta1, 0.9, 1e-12);
    CHECK_CLOSE(c.optim.beta2, 0.95, 1e-12);
    CHECK_CLOSE(c.optim.eps, 1e-8, 1e-12);
    CHECK_CLOSE(c.optim.weight_decay, 0.1, 1e-12);
    CHECK_CLOSE(c.optim.grad_clip, 1.0, 1e-12);
    CHECK_CLOSE(c.optim.min_lr_ratio, 0.1, 1e-12);
    CHECK(c.runtime.backend == CLPT_RUN_AUTO && c.optim.schedule == CLPT_SCHED_CONSTANT);
    CHECK(!strcmp(c.model.init, "random"));
    CHECK(!strcmp(clpt_config_origin(&c, "optim.lr"), "default"));
    CHECK(clpt_config_origin(&c, "optim.nope") == NULL);
    CHECK(clpt_config_nkeys() > 40 && clpt_config_nkeys() <= CLPT_CONFIG_MAX_KEYS);
}

static void test_presets(void)
{
    static const struct { const char *name; int L, H, C, T; } want[] = {
        {"gpt2", 12, 12, 768, 1024},   {"gpt2-medium", 24, 16, 1024, 1024},
        {"gpt2-large", 36, 20, 1280, 1024}, {"gpt2-xl", 48, 25, 1600, 1024},
        {"tiny", 2, 2, 64, 128},       {"mini", 4, 4, 128, 256},
        {"small", 6, 6, 384, 256},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        clpt_config c;
        clpt_model_config m;
        clpt_config_defaults(&c);
        CHECK(clpt_config_set(&c, "model.preset", want[i].name, "test") == 0);
        CHECK_MSG(clpt_config_model(&c, &m) == 0, "%s", clpt_errmsg());
        CHECK_MSG(m.n_layer == want[i].L && m.n_head == want[i].H && m.n_embd == want[i].C &&
                  m.n_ctx == want[i].T && m.vocab_size == 50257, "preset %s", want[i].name);
        CHECK_CLOSE(m.ln_eps, 1e-5, 1e-9);
        CHECK_MSG(clpt_config_validate(&c) == 0, "%s: %s", want[i].name, clpt_errmsg());
        clpt_preset p;
        CHECK(clpt_preset_lookup(want[i].name, &p) == 0 && (int)p == c.model.preset);
    }
    clpt_model_config m;
    clpt_preset_model(CLPT_PRESET_GPT2, &m);
    CHECK(clpt_model_config_nparams(&m) == 124439808); /* Hugging Face's count */
    /* overrides apply one dimension at a time */
    clpt_config c;
    clpt_config_defaults(&c);
    CHECK(clpt_config_set(&c, "model.preset", "small", NULL) == 0);
    CHECK(clpt_config_set(&c, "model.vocab_size", "8192", NULL) == 0);
    CHECK(clpt_config_set(&c, "model.n_ctx", "512", NULL) == 0);
    CHECK(clpt_config_model(&c, &m) == 0);
    CHECK(m.n_layer == 6 && m.n_embd == 384 && m.n_ctx == 512 && m.vocab_size == 8192);
    CHECK(clpt_config_seq_len(&c) == 512);
}

static void test_good_file(void)
{
    clpt_config c;
    clpt_config_defaults(&c);
    int rc = load_data(&c, "good.ini");
    CHECK_MSG(rc == 0, "good.ini: %s", clpt_errmsg());
    CHECK_MSG(clpt_config_validate(&c) == 0, "%s", clpt_errmsg());
    CHECK(c.model.preset == CLPT_PRESET_TINY && c.model.n_layer == 3 && c.model.n_embd == 96);
    CHECK(c.train.batch_size == 4 && c.train.seq_len == 64 && c.train.grad_accum == 2);
    CHECK(c.train.tokens == 2000000 && c.train.steps == 0); /* tokens cleared steps */
    CHECK_CLOSE(c.train.epochs, 1.5, 1e-12);
    CHECK(c.train.seed == 42 && !strcmp(c.train.out_dir, "runs/with spaces/x"));
    CHECK_CLOSE(c.optim.lr, 3e-4, 1e-12);
    CHECK(c.optim.schedule == CLPT_SCHED_WSD && c.optim.reset_per_domain == 1);
    CHECK(strlen(c.data.train) > 250 && !strncmp(c.data.train, "/data/very_long", 15));
    CHECK(!strcmp(c.data.train + strlen(c.data.train) - 10, "/shard.bin"));
    CHECK(!strcmp(c.data.valid, "a.bin,b.bin") && c.data.max_eval_tokens == 64000);
    CHECK(c.eval.rank == 1 && c.runtime.backend == CLPT_RUN_CPU);
    CHECK(c.runtime.progress == CLPT_PROGRESS_NEVER);
    CHECK(strstr(clpt_config_origin(&c, "model.n_layer"), "good.ini:6"));
    CHECK(strstr(clpt_config_origin(&c, "train.grad_accum"), "good.ini:30"));
    CHECK(clpt_config_total_steps(&c) == (2000000 + 511) / 512);
}

static void test_bad_files(void)
{
    const struct { const char *file; const char *const *needles; } cases[] = {
        {"bad_section.ini", NEEDLES("bad_section.ini:4:", "[modle]", "did you mean [model]",
                                    "valid sections: [model], [train]")},
        {"bad_section_empty.ini", NEEDLES("bad_section_empty.ini:3:", "[optimizer]",
                                          "[optim]", "[runtime]")},
        {"bad_key.ini", NEEDLES("bad_key.ini:3:", "'lrr'", "[optim]", "did you mean 'lr'",
                                "valid keys: lr, beta1, beta2")},
        {"bad_int.ini", NEEDLES("bad_int.ini:2:", "train.batch_size", "'1e3'",
                                "not an integer", "[1, 65536]")},
        {"bad_float.ini", NEEDLES("bad_float.ini:3:", "optim.lr", "'fast'", "not a number",
                                  "(0, 10]")},
        {"bad_range.ini", NEEDLES("bad_range.ini:2:", "optim.beta1", "out of range", "[0, 1)")},
        {"bad_int_range.ini", NEEDLES("bad_int_range.ini:2:", "train.batch_size",
                                      "out of range", "[1, 65536]")},
        {"bad_enum.ini", NEEDLES("bad_enum.ini:2:", "optim.schedule", "'cosin'",
                                 "constant, cosine, linear, wsd", "did you mean 'cosine'")},
        {"bad_bool.ini", NEEDLES("bad_bool.ini:2:", "eval.rank", "'maybe'", "true, false")},
        {"bad_dup.ini", NEEDLES("bad_dup.ini:5:", "duplicate", "optim.lr", "line 2")},
        {"bad_syntax.ini", NEEDLES("bad_syntax.ini:3:", "syntax error",
                                   "this line has no equals sign")},
        {"bad_header.ini", NEEDLES("bad_header.ini:1:", "syntax error", "[train")},
        {"bad_outside.ini", NEEDLES("bad_outside.ini:2:", "'steps'", "outside any section",
                                    "[model]")},
        {"bad_alt.ini", NEEDLES("bad_alt.ini:4:", "train.tokens", "train.steps", "line 2")},
        {"bad_long.ini", NEEDLES("bad_long.ini:2:", "train.out_dir", "too long", "1023")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clpt_config c;
        clpt_config_defaults(&c);
        expect_err(cases[i].file, load_data(&c, cases[i].file), CLPT_ECONFIG, cases[i].needles);
    }
    clpt_config c;
    clpt_config_defaults(&c);
    expect_err("missing file", load_data(&c, "no_such_file.ini"), CLPT_EIO,
               NEEDLES("no_such_file.ini"));
}

static void test_overrides(void)
{
    clpt_config c;
    clpt_config_defaults(&c);
    CHECK(clpt_config_set(&c, "optim.lr", "3e-4", "command line") == 0);
    CHECK_CLOSE(c.optim.lr, 3e-4, 1e-12);
    CHECK(!strcmp(clpt_config_origin(&c, "optim.lr"), "command line"));
    CHECK(clpt_config_set_arg(&c, "train.tokens=10M", "command line") == 0);
    CHECK(c.train.tokens == 10000000 && c.train.steps == 0); /* alternative cleared */
    CHECK(strstr(clpt_config_origin(&c, "train.steps"), "cleared by train.tokens"));
    CHECK(clpt_config_set_arg(&c, "train.steps=50", NULL) == 0);
    CHECK(c.train.steps == 50 && c.train.tokens == 0);
    CHECK(clpt_config_set_arg(&c, "data.train=a=b.bin", NULL) == 0); /* first '=' splits */
    CHECK(!strcmp(c.data.train, "a=b.bin"));
    expect_err("bad value", clpt_config_set(&c, "optim.lr", "-1", "command line"), CLPT_ECONFIG,
               NEEDLES("command line", "optim.lr", "out of range"));
    CHECK_CLOSE(c.optim.lr, 3e-4, 1e-12); /* unchanged on failure */
    expect_err("bad key", clpt_config_set(&c, "optim.beta", "0.9", "command line"),
               CLPT_ECONFIG, NEEDLES("command line", "'beta'", "beta1, beta2"));
    expect_err("bad section", clpt_config_set(&c, "optimizer.lr", "1", "cli"), CLPT_ECONFIG,
               NEEDLES("cli", "optimizer.lr", "did you mean 'optim'"));
    expect_err("no dot", clpt_config_set(&c, "lr", "1", "cli"), CLPT_ECONFIG, NEEDLES("'lr'"));
    expect_err("no =", clpt_config_set_arg(&c, "optim.lr", "cli"), CLPT_ECONFIG,
               NEEDLES("section.key=value"));
    expect_err("control char", clpt_config_set(&c, "train.out_dir", "a\nb", "cli"),
               CLPT_ECONFIG, NEEDLES("train.out_dir", "control character"));
    char big[CLPT_CONFIG_STR_MAX + 1];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_err("too long", clpt_config_set(&c, "data.valid", big, "cli"), CLPT_ECONFIG,
               NEEDLES("data.valid", "too long"));
    big[CLPT_CONFIG_STR_MAX - 1] = '\0'; /* 1023 bytes fit */
    CHECK(clpt_config_set(&c, "data.valid", big, "cli") == 0);
    char v[64];
    CHECK(clpt_config_get(&c, "optim.lr", v, sizeof v) == 0 && !strcmp(v, "0.0003"));
    CHECK(clpt_config_get(&c, "optim.nope", v, sizeof v) == CLPT_ECONFIG);
    /* the cuda backend's precision and attention kernels, recorded with the run */
    CHECK(c.runtime.cuda_gemm == 0 && c.runtime.cuda_attention == 0); /* "default" */
    CHECK(clpt_config_set_arg(&c, "runtime.cuda_gemm=tf32", "cli") == 0);
    CHECK(!strcmp(clpt_cuda_gemm_names[c.runtime.cuda_gemm], "tf32"));
    CHECK(clpt_config_set_arg(&c, "runtime.cuda_attention=wmma", "cli") == 0);
    CHECK(!strcmp(clpt_cuda_attention_names[c.runtime.cuda_attention], "wmma"));
    CHECK(c.runtime.cuda_gelu_fusion == 0); /* "default" */
    CHECK(clpt_config_set_arg(&c, "runtime.cuda_gelu_fusion=off", "cli") == 0);
    CHECK(!strcmp(clpt_cuda_gelu_fusion_names[c.runtime.cuda_gelu_fusion], "off"));
    expect_err("bad gelu fusion", clpt_config_set(&c, "runtime.cuda_gelu_fusion", "yes", "cli"), CLPT_ECONFIG,
               NEEDLES("runtime.cuda_gelu_fusion", "on", "off"));
    expect_err("bad attention", clpt_config_set(&c, "runtime.cuda_attention", "fast", "cli"), CLPT_ECONFIG,
               NEEDLES("runtime.cuda_attention", "mma", "simt"));
    /* on the CPU backend they are accepted and change nothing */
    CHECK(clpt_config_set_arg(&c, "runtime.backend=cpu", "cli") == 0);
    CHECK(clpt_backend_from_config(&c) == clpt_backend_cpu());
    CHECK(clpt_config_set_arg(&c, "runtime.backend=cpu-bf16", "cli") == 0);
    CHECK(c.runtime.backend == CLPT_RUN_CPU_BF16);
    CHECK(clpt_backend_from_config(&c) == clpt_backend_cpu_bf16());
}

static void test_numbers(void)
{
    static const struct { const char *key, *value; int ok; int64_t want; } cases[] = {
        {"train.tokens", "10M", 1, 10000000},   {"train.tokens", "1G", 1, 1000000000},
        {"train.tokens", "64k", 1, 64000},      {"train.tokens", "2T", 1, 2000000000000},
        {"train.tokens", "1e6", 0, 0},          {"train.tokens", "10m", 0, 0},
        {"train.tokens", "0x10", 0, 0},         {"train.tokens", "-5", 0, 0},
        {"train.tokens", "", 0, 0},             {"train.tokens", "5 M", 0, 0},
        {"train.tokens", "99999999999999999999", 0, 0},
        {"train.tokens", "9000000T", 0, 0},     {"model.seed", "9223372036854775807", 1,
                                                 INT64_MAX},
        {"train.batch_size", "65537", 0, 0},    {"train.batch_size", "+8", 1, 8},
        {"train.batch_size", "2.0", 0, 0},      {"train.batch_size", "3000000000", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clpt_config c;
        char v[64];
        clpt_config_defaults(&c);
        int rc = clpt_config_set(&c, cases[i].key, cases[i].value, "t");
        CHECK_MSG((rc == 0) == cases[i].ok, "%s = '%s': rc %d", cases[i].key, cases[i].value, rc);
        if (rc || !cases[i].ok) continue;
        clpt_config_get(&c, cases[i].key, v, sizeof v);
        CHECK_MSG(strtoll(v, NULL, 10) == cases[i].want, "%s = '%s' gave %s", cases[i].key,
                  cases[i].value, v);
    }
    static const char *const bad_floats[] = {"nan", "inf", "1e999", "0.1x", " ", "0"};
    for (size_t i = 0; i < sizeof bad_floats / sizeof bad_floats[0]; i++) {
        clpt_config c;
        clpt_config_defaults(&c);
        CHECK_MSG(clpt_config_set(&c, "optim.lr", bad_floats[i], "t") == CLPT_ECONFIG,
                  "lr '%s' accepted", bad_floats[i]);
    }
    clpt_config c;
    clpt_config_defaults(&c);
    CHECK(clpt_config_set(&c, "optim.beta1", "0", "t") == 0);        /* closed end */
    CHECK(clpt_config_set(&c, "optim.eps", "0", "t") == CLPT_ECONFIG); /* open end */
    CHECK(clpt_config_set(&c, "eval.rank", "YES", "t") == 0 && c.eval.rank == 1);
    CHECK(clpt_config_set(&c, "eval.rank", "0", "t") == 0 && c.eval.rank == 0);
    CHECK(clpt_config_set(&c, "optim.schedule", "Cosine", "t") == CLPT_ECONFIG);
}

static void expect_invalid(const char *what, const char *const *sets, const char *const *needles)
{
    clpt_config c;
    clpt_config_defaults(&c);
    for (; *sets; sets++)
        CHECK_MSG(clpt_config_set_arg(&c, *sets, "cli") == 0, "%s: %s", *sets, clpt_errmsg());
    expect_err(what, clpt_config_validate(&c), CLPT_ECONFIG, needles);
}

static void test_validate(void)
{
    expect_invalid("heads", NEEDLES("model.n_head=5"),
                   NEEDLES("model.n_embd (768, from preset gpt2)", "model.n_head (5, from cli)"));
    expect_invalid("seq_len", NEEDLES("model.preset=tiny", "train.seq_len=256"),
                   NEEDLES("train.seq_len (256", "model.n_ctx (128"));
    expect_invalid("no length", NEEDLES("train.steps=0"),
                   NEEDLES("train.steps", "train.tokens", "both 0"));
    expect_invalid("short tokens", NEEDLES("train.tokens=1000"),
                   NEEDLES("train.tokens (1000", "16384"));
    expect_invalid("warmup", NEEDLES("train.steps=10", "optim.warmup_steps=20"),
                   NEEDLES("optim.warmup_steps (20", "10 steps"));
    expect_invalid("vocab", NEEDLES("model.vocab_size=1"), NEEDLES("model.vocab_size"));
    /* both set only by writing the struct directly */
    clpt_config c;
    clpt_config_defaults(&c);
    c.train.tokens = 1000000;
    expect_err("both", clpt_config_validate(&c), CLPT_ECONFIG, NEEDLES("both set"));
    /* warmup beyond steps is fine when the schedule restarts per domain */
    clpt_config_defaults(&c);
    clpt_config_set_arg(&c, "train.steps=10", NULL);
    clpt_config_set_arg(&c, "optim.warmup_steps=20", NULL);
    clpt_config_set_arg(&c, "optim.schedule_per_domain=true", NULL);
    CHECK_MSG(clpt_config_validate(&c) == 0, "%s", clpt_errmsg());
}

static void test_shipped_configs(void)
{
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/configs", srcdir);
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini")) continue;
        clpt_config c;
        clpt_model_config m;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        clpt_config_defaults(&c);
        CHECK_MSG(clpt_config_load(&c, path) == 0, "%s", clpt_errmsg());
        CHECK_MSG(clpt_config_validate(&c) == 0, "%s: %s", e->d_name, clpt_errmsg());
        CHECK(clpt_config_model(&c, &m) == 0);
        if (!strncmp(e->d_name, "gpt2", 4))  /* the study's 16 sequences per step */
            CHECK_MSG(c.train.batch_size * c.train.grad_accum == 16, "%s", e->d_name);
        n++;
    }
    closedir(d);
    CHECK_MSG(n >= 6, "only %d configs/*.ini", n);
}

/* --show output is an ini file that loads back to the same values. */
static void test_roundtrip(void)
{
    const char *tmp = "test_config_roundtrip.ini";
    clpt_config a, b;
    clpt_config_defaults(&a);
    CHECK(load_data(&a, "good.ini") == 0);
    CHECK(clpt_config_set(&a, "optim.lr", "0.1", "cli") == 0);
    CHECK(clpt_config_set(&a, "optim.beta2", "0.999999", "cli") == 0);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    if (!f) return;
    clpt_config_print(&a, f);
    fclose(f);
    clpt_config_defaults(&b);
    CHECK_MSG(clpt_config_load(&b, tmp) == 0, "%s", clpt_errmsg());
    for (int i = 0; i < clpt_config_nkeys(); i++) {
        clpt_config_keyinfo k;
        char va[CLPT_CONFIG_STR_MAX], vb[CLPT_CONFIG_STR_MAX];
        clpt_config_key_info(i, &k);
        clpt_config_get(&a, k.dotted, va, sizeof va);
        clpt_config_get(&b, k.dotted, vb, sizeof vb);
        CHECK_MSG(!strcmp(va, vb), "%s: '%s' became '%s'", k.dotted, va, vb);
    }
    CHECK(memcmp(&a.model, &b.model, sizeof a.model) == 0);
    CHECK(memcmp(&a.optim, &b.optim, sizeof a.optim) == 0);
    remove(tmp);
}

static void test_crlf_bom(void)
{
    const char *tmp = "test_config_crlf.ini";
    clpt_config c;
    write_file(tmp, "\xEF\xBB\xBF[train]\r\nsteps = 7\r\n\r\n[optim]\r\nlr = 2e-4 ; x\r\n"
                    "beta1 = 0.5\r\nbogus = 1\r\n");
    clpt_config_defaults(&c);
    expect_err("crlf", clpt_config_load(&c, tmp), CLPT_ECONFIG,
               NEEDLES("test_config_crlf.ini:7:", "'bogus'"));
    CHECK(c.train.steps == 7);
    CHECK_CLOSE(c.optim.lr, 2e-4, 1e-12);
    CHECK_CLOSE(c.optim.beta1, 0.5, 1e-12);
    write_file(tmp, "[model]\n; " "a comment longer than inih's line buffer ............"
                    "....................................................................."
                    "....................................................................."
                    "\npreset = mini\n");
    clpt_config_defaults(&c);
    CHECK_MSG(clpt_config_load(&c, tmp) == 0, "%s", clpt_errmsg());
    CHECK(c.model.preset == CLPT_PRESET_MINI);
    remove(tmp);
}

static char *doc_text(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    clpt_config_doc(f);
    fclose(f);
    return buf;
}

static void compare_docs(const char *what, const char *got, size_t glen, const char *want,
                         size_t wlen)
{
    if (glen == wlen && !memcmp(got, want, glen)) return;
    int line = 1;
    for (size_t i = 0; i < glen && i < wlen && got[i] == want[i]; i++) line += got[i] == '\n';
    CHECK_MSG(0, "%s differs from configs/README.md from line %d: regenerate it with "
              "`clpt config --doc > configs/README.md`", what, line);
}

static void test_doc(void)
{
    char path[2048];
    size_t dlen, rlen;
    snprintf(path, sizeof path, "%s/configs/README.md", srcdir);
    char *doc = doc_text(&dlen), *readme = slurp(path, &rlen);
    CHECK_MSG(readme != NULL, "cannot read %s", path);
    CHECK(doc != NULL);
    if (doc && readme) compare_docs("clpt_config_doc()", doc, dlen, readme, rlen);
    for (int i = 0; doc && i < clpt_config_nkeys(); i++) { /* every key documented */
        clpt_config_keyinfo k;
        char cellname[96];
        clpt_config_key_info(i, &k);
        snprintf(cellname, sizeof cellname, "| `%s` |", k.name);
        CHECK_MSG(strstr(doc, cellname) && *k.help, "%s undocumented", k.dotted);
    }
    free(doc);
    free(readme);
}

/* The command: exit status and messages of `clpt config`. */
static int run(const char *args, const char *out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "\"%s\" config %s > %s 2>&1", getenv("CLPT_BIN"), args, out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void)
{
    const char *bin = getenv("CLPT_BIN"), *out = "test_config_cli.out";
    char args[4096], path[2048];
    size_t len, rlen;
    if (!bin) {
        printf("CLPT_BIN unset: command tests skipped\n");
        return;
    }
    snprintf(path, sizeof path, "%s/tests/data/config/good.ini", srcdir);
    snprintf(args, sizeof args, "--check '%s' --set optim.lr=1e-3", path);
    CHECK(run(args, out) == 0);
    snprintf(args, sizeof args, "--check '%s/tests/data/config/bad_key.ini'", srcdir);
    CHECK(run(args, out) == 1);
    char *text = slurp(out, &len);
    CHECK(text && strstr(text, "bad_key.ini:3:") && strstr(text, "lrr"));
    free(text);
    snprintf(args, sizeof args, "--show '%s' --set optim.warmup_steps=9999999", path);
    CHECK(run(args, out) == 1); /* shown, then found invalid */
    text = slurp(out, &len);
    CHECK(text && strstr(text, "warmup_steps = 9999999") && strstr(text, "command line"));
    free(text);
    CHECK(run("--bogus", out) == 2);
    CHECK(run("--check", out) == 2);
    CHECK(run("--doc", out) == 0);
    snprintf(path, sizeof path, "%s/configs/README.md", srcdir);
    char *doc = slurp(out, &len), *readme = slurp(path, &rlen);
    if (doc && readme) compare_docs("clpt config --doc", doc, len, readme, rlen);
    free(doc);
    free(readme);
    remove(out);
}

int main(void)
{
    srcdir = getenv("CLPT_SOURCE_DIR");
    if (!srcdir) SKIP_TEST("CLPT_SOURCE_DIR unset");
    test_defaults();
    test_presets();
    test_good_file();
    test_bad_files();
    test_overrides();
    test_numbers();
    test_validate();
    test_shipped_configs();
    test_roundtrip();
    test_crlf_bom();
    test_doc();
    test_cli();
    CHECK_DONE();
}
