/* test_manifest.c - manifest round trip, path resolution, every malformed
 * case naming its field and domain, and sha256 verification of shards. */
#define _XOPEN_SOURCE 700

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "testdir.h"
#include "clpt.h"
#include "fsutil.h"
#include "manifest.h"
#include "shard.h"


/* sha256 of the shard files written by write_shards() (computed with
 * Python's hashlib over the llm.c layout). */
#define SHA_A "f4fd6c84c5398730f8f751bed9d83ced52a62ce8cd05453ed01199a986b6f732"
#define SHA_B "22c3bf093298d9c897375a941b19fd6662642d87ce92b975aa057d5ab25c6396"
#define SHA_C "37256e5da8606f37bbcd0952da1c56a16d784d88165ff09e78802d98934abf5a"
#define SHA_TOK "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"

static void write_shards(void)
{
    uint16_t a[10], b[20], c[7];
    for (int i = 0; i < 10; i++) a[i] = (uint16_t)(i * 3);
    for (int i = 0; i < 20; i++) b[i] = (uint16_t)(1000 + i);
    for (int i = 0; i < 7; i++) c[i] = 5;
    clpt_fs_mkdir_p(P("cs.CL"));
    CHECK(clpt_shard_write(P("cs.CL/train_000.bin"), a, 10) == 0);
    CHECK(clpt_shard_write(P("cs.CL/train_001.bin"), b, 20) == 0);
    CHECK(clpt_shard_write(P("cs.CL/valid_000.bin"), c, 7) == 0);
}

/* Two domains; cs.CL has 2 train shards, 1 valid, 0 test; Art has none. */
static clpt_manifest *build(void)
{
    clpt_manifest *m;
    int i = -1;
    CHECK(clpt_manifest_new(&m, dir) == 0);
    CHECK(clpt_manifest_set_tokenizer(m, "tokenizer", SHA_TOK, 50257, 50256) == 0);
    CHECK(clpt_manifest_add_domain(m, "cs.CL", "cs", "CL", 1, &i) == 0 && i == 0);
    CHECK(clpt_manifest_add_domain(m, "Art__Painting", "Art", "Painting", 0, &i) == 0 && i == 1);
    CHECK(clpt_manifest_add_shard(m, 0, CLPT_SPLIT_TRAIN, "cs.CL/train_000.bin", 10, SHA_A) == 0);
    CHECK(clpt_manifest_add_shard(m, 0, CLPT_SPLIT_TRAIN, "cs.CL/train_001.bin", 20, SHA_B) == 0);
    CHECK(clpt_manifest_add_shard(m, 0, CLPT_SPLIT_VALID, "cs.CL/valid_000.bin", 7, SHA_C) == 0);
    return m;
}

static void check_contents(const clpt_manifest *m)
{
    CHECK(clpt_manifest_ndomains(m) == 2);
    const clpt_manifest_tokenizer *t = clpt_manifest_tokenizer_info(m);
    CHECK(!strcmp(t->path, "tokenizer") && !strcmp(t->resolved, P("tokenizer")));
    CHECK(!strcmp(t->sha256, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    CHECK(t->vocab_size == 50257 && t->eot == 50256);
    const clpt_domain *d = clpt_manifest_domain(m, 0);
    CHECK(d && !strcmp(d->name, "cs.CL") && !strcmp(d->l1, "cs") && !strcmp(d->l2, "CL"));
    CHECK(d && d->order == 1);
    CHECK(clpt_manifest_domain(m, 1)->order == 0);
    CHECK(clpt_manifest_domain(m, 2) == NULL && clpt_manifest_domain(m, -1) == NULL);
    CHECK(clpt_manifest_find(m, "Art__Painting") == 1 && clpt_manifest_find(m, "x") == -1);
    const clpt_manifest_split *tr = clpt_manifest_split_of(m, 0, CLPT_SPLIT_TRAIN);
    CHECK(tr && tr->tokens == 30 && tr->n_shards == 2);
    CHECK(tr && !strcmp(tr->shards[1].file, "cs.CL/train_001.bin"));
    CHECK(tr && !strcmp(tr->shards[1].path, P("cs.CL/train_001.bin")));
    CHECK(tr && tr->shards[1].tokens == 20 && !strcmp(tr->shards[1].sha256, SHA_B));
    CHECK(clpt_manifest_split_of(m, 0, CLPT_SPLIT_VALID)->tokens == 7);
    CHECK(clpt_manifest_split_of(m, 0, CLPT_SPLIT_TEST)->n_shards == 0);
    CHECK(clpt_manifest_split_of(m, 1, CLPT_SPLIT_TRAIN)->tokens == 0);
    CHECK(clpt_manifest_split_of(m, 0, 3) == NULL && clpt_manifest_split_of(m, 2, 0) == NULL);
}

static void test_round_trip(void)
{
    clpt_manifest *m = build(), *r;
    check_contents(m);
    CHECK(clpt_manifest_write(m, NULL) == 0);
    clpt_manifest_free(m);
    CHECK(clpt_manifest_load(&r, dir) == 0);  /* a directory */
    if (r) check_contents(r);
    /* write what was read to another name; load that file by path */
    CHECK(clpt_manifest_write(r, P("copy.json")) == 0);
    clpt_manifest_free(r);
    CHECK(clpt_manifest_load(&r, P("copy.json")) == 0);
    if (r) check_contents(r);
    clpt_manifest_free(r);
    CHECK(clpt_split_parse("valid") == CLPT_SPLIT_VALID && clpt_split_parse("dev") == -1);
    CHECK(!strcmp(clpt_split_name(CLPT_SPLIT_TEST), "test") && !clpt_split_name(3));
}

static void test_builder_errors(void)
{
    clpt_manifest *m;
    CHECK(clpt_manifest_new(&m, dir) == 0);
    CHECK(clpt_manifest_write(m, P("nope.json")) == CLPT_ESTATE && has("tokenizer"));
    CHECK(access(P("nope.json"), F_OK) != 0);
    CHECK(clpt_manifest_set_tokenizer(m, "t", "", 100, 100) == CLPT_EFORMAT && has("eot"));
    CHECK(clpt_manifest_set_tokenizer(m, "t", "abc", 100, 1) == CLPT_EFORMAT && has("sha256"));
    CHECK(clpt_manifest_set_tokenizer(m, "t", NULL, 70000, 1) == CLPT_EFORMAT);
    CHECK(clpt_manifest_set_tokenizer(m, "/abs/tok", NULL, 100, 1) == 0);
    CHECK(!strcmp(clpt_manifest_tokenizer_info(m)->resolved, "/abs/tok"));
    CHECK(clpt_manifest_add_domain(m, "", "a", "b", 0, NULL) == CLPT_EFORMAT);
    CHECK(clpt_manifest_add_domain(m, "d", "a", "b", 0, NULL) == 0);
    CHECK(clpt_manifest_add_domain(m, "d", "a", "b", 1, NULL) == CLPT_EFORMAT && has("duplicate"));
    CHECK(clpt_manifest_add_domain(m, "e", "a", "b", 0, NULL) == CLPT_EFORMAT && has("order"));
    CHECK(clpt_manifest_add_shard(m, 0, 0, "../x.bin", 1, SHA_A) == CLPT_EFORMAT);
    CHECK(has("splits.train.shards[0].file") && has("\"d\""));
    CHECK(clpt_manifest_add_shard(m, 0, 0, "a/..b/x.bin", 1, SHA_A) == 0);  /* not '..' */
    CHECK(clpt_manifest_add_shard(m, 0, 0, "./x.bin", 1, SHA_A) == 0);
    CHECK(clpt_manifest_add_shard(m, 1, 0, "x.bin", 1, SHA_A) == CLPT_EINVAL);
    CHECK(clpt_manifest_add_shard(m, 0, 3, "x.bin", 1, SHA_A) == CLPT_EINVAL);
    /* many shards: the array grows */
    for (int k = 0; k < 100; k++) CHECK(clpt_manifest_add_shard(m, 0, 2, "t.bin", 1, SHA_A) == 0);
    CHECK(clpt_manifest_split_of(m, 0, 2)->tokens == 100);
    CHECK(clpt_manifest_write(m, P("grown.json")) == 0);
    clpt_manifest_free(m);
    CHECK(clpt_manifest_load(&m, P("grown.json")) == 0);
    CHECK(m && clpt_manifest_split_of(m, 0, 2)->n_shards == 100);
    clpt_manifest_free(m);
}

/* ---- malformed manifests: mutate a good one through cJSON -------------- */

static cJSON *good_json(void)
{
    clpt_manifest *m = build();
    CHECK(clpt_manifest_write(m, P("good.json")) == 0);
    clpt_manifest_free(m);
    char *text;
    size_t len;
    CHECK(clpt_fs_read_file(P("good.json"), 1 << 20, &text, &len) == 0);
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static cJSON *path_get(cJSON *j, const char *a, const char *b)
{
    cJSON *x = cJSON_GetObjectItem(j, a);
    return b ? cJSON_GetObjectItem(x, b) : x;
}

static cJSON *dom(cJSON *j, int i) { return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "domains"), i); }

static cJSON *shard0(cJSON *j)
{
    cJSON *tr = path_get(cJSON_GetObjectItem(dom(j, 0), "splits"), "train", "shards");
    return cJSON_GetArrayItem(tr, 0);
}

static void set(cJSON *obj, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItem(obj, key)) cJSON_ReplaceItemInObject(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
}

/* Parse j (consumed) and expect failure `code` with both substrings. */
static void expect_bad(cJSON *j, int code, const char *a, const char *b, int line)
{
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    clpt_manifest *m = (clpt_manifest *)1;
    int rc = clpt_manifest_parse(&m, text, strlen(text), dir, "M.json");
    CHECK_MSG(rc == code, "line %d: rc %d, expected %d (%s)", line, rc, code, clpt_errmsg());
    CHECK_MSG(m == NULL, "line %d", line);
    CHECK_MSG(has("M.json: "), "line %d", line);
    if (a) CHECK_MSG(has(a), "line %d", line);
    if (b) CHECK_MSG(has(b), "line %d", line);
    free(text);
}
#define BAD(j, code, a, b) expect_bad(j, code, a, b, __LINE__)

static void test_malformed(void)
{
    cJSON *j;
    j = good_json(); cJSON_DeleteItemFromObject(path_get(j, "tokenizer", NULL), "vocab_size");
    BAD(j, CLPT_EFORMAT, "tokenizer.vocab_size: missing", NULL);
    j = good_json(); set(dom(j, 0), "order", cJSON_CreateString("3"));
    BAD(j, CLPT_EFORMAT, "domains[0] (\"cs.CL\").order", "must be an integer");
    j = good_json(); set(dom(j, 1), "order", cJSON_CreateNumber(1.5));
    BAD(j, CLPT_EFORMAT, "domains[1] (\"Art__Painting\").order", "integer");
    j = good_json(); set(dom(j, 1), "l2", cJSON_CreateNumber(3));
    BAD(j, CLPT_EFORMAT, "domains[1] (\"Art__Painting\").l2", "must be a string");
    j = good_json(); cJSON_DeleteItemFromObject(dom(j, 1), "name");
    BAD(j, CLPT_EFORMAT, "domains[1].name: missing", NULL);
    j = good_json(); set(shard0(j), "file", cJSON_CreateString("../x.bin"));
    BAD(j, CLPT_EFORMAT, "domains[0] (\"cs.CL\").splits.train.shards[0].file", "..");
    j = good_json(); set(shard0(j), "file", cJSON_CreateString("a/b/../../../x.bin"));
    BAD(j, CLPT_EFORMAT, "shards[0].file", "relative");
    j = good_json(); set(shard0(j), "file", cJSON_CreateString("/etc/x.bin"));
    BAD(j, CLPT_EFORMAT, "shards[0].file", "/etc/x.bin");
    j = good_json(); set(shard0(j), "file", cJSON_CreateString(""));
    BAD(j, CLPT_EFORMAT, "shards[0].file", NULL);
    j = good_json(); set(shard0(j), "tokens", cJSON_CreateNumber(-1));
    BAD(j, CLPT_EFORMAT, "shards[0].tokens", "outside");
    j = good_json(); set(shard0(j), "sha256", cJSON_CreateString("abc"));
    BAD(j, CLPT_EFORMAT, "shards[0].sha256", "64 hex");
    j = good_json(); cJSON_DeleteItemFromObject(shard0(j), "sha256");
    BAD(j, CLPT_EFORMAT, "shards[0].sha256: missing", NULL);
    j = good_json(); set(dom(j, 1), "name", cJSON_CreateString("cs.CL"));
    BAD(j, CLPT_EFORMAT, "duplicate domain \"cs.CL\"", "domains[1]");
    j = good_json(); set(dom(j, 1), "order", cJSON_CreateNumber(1));
    BAD(j, CLPT_EFORMAT, "domains[1] (\"Art__Painting\").order", "cs.CL");
    j = good_json(); cJSON_DeleteItemFromObject(cJSON_GetObjectItem(dom(j, 0), "splits"), "valid");
    BAD(j, CLPT_EFORMAT, "domains[0] (\"cs.CL\").splits.valid: missing", NULL);
    j = good_json(); set(path_get(cJSON_GetObjectItem(dom(j, 0), "splits"), "train", NULL),
                         "tokens", cJSON_CreateNumber(31));
    BAD(j, CLPT_EFORMAT, "splits.train.tokens: 31", "30");
    j = good_json(); set(j, "format", cJSON_CreateString("llmc"));
    BAD(j, CLPT_EFORMAT, "format", "llmc");
    j = good_json(); set(j, "version", cJSON_CreateNumber(2));
    BAD(j, CLPT_EUNSUP, "version", "2");
    j = good_json(); set(j, "version", cJSON_CreateNumber(0));
    BAD(j, CLPT_EFORMAT, "version", NULL);
    j = good_json(); set(path_get(j, "tokenizer", NULL), "eot", cJSON_CreateNumber(50257));
    BAD(j, CLPT_EFORMAT, "tokenizer.eot", "50257");
    j = good_json(); set(j, "domains", cJSON_CreateObject());
    BAD(j, CLPT_EFORMAT, "domains: must be an array", NULL);
    j = good_json(); cJSON_AddItemToArray(cJSON_GetObjectItem(j, "domains"), cJSON_CreateNumber(1));
    BAD(j, CLPT_EFORMAT, "domains[2]: must be an object", NULL);
    j = good_json(); cJSON_ReplaceItemInArray(path_get(cJSON_GetObjectItem(dom(j, 0), "splits"),
                                                       "train", "shards"), 1, cJSON_CreateTrue());
    BAD(j, CLPT_EFORMAT, "splits.train.shards[1]: must be an object", NULL);
    BAD(cJSON_CreateArray(), CLPT_EFORMAT, "top level", NULL);
    /* unknown keys are tolerated */
    j = good_json(); set(j, "created_by", cJSON_CreateString("clpt prepare"));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    clpt_manifest *m;
    CHECK(clpt_manifest_parse(&m, text, strlen(text), dir, "M.json") == 0);
    clpt_manifest_free(m);
    free(text);

    const char *broken = "{\"format\": \"clpt-manifest\", \"version\": 1,";
    CHECK(clpt_manifest_parse(&m, broken, strlen(broken), dir, "B.json") == CLPT_EFORMAT);
    CHECK(has("B.json") && has("invalid JSON"));
    /* from disk: the message names the file */
    FILE *f = fopen(P("bad.json"), "w");
    fputs("{\"format\": \"clpt-manifest\", \"version\": 1}", f);
    fclose(f);
    CHECK(clpt_manifest_load(&m, P("bad.json")) == CLPT_EFORMAT);
    CHECK(has(P("bad.json")) && has("tokenizer: missing"));
    CHECK(clpt_manifest_load(&m, P("absent.json")) == CLPT_EIO && has("absent.json"));
}

static void test_verify(void)
{
    write_shards();
    clpt_manifest *m = build();
    int rc = clpt_manifest_verify(m, -1);
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    CHECK(clpt_manifest_verify(m, 0) == 0 && clpt_manifest_verify(m, 1) == 0);
    CHECK(clpt_manifest_verify(m, 2) == CLPT_EINVAL);
    /* same size and count, different tokens: only the hash can tell */
    uint16_t c[7] = {5, 5, 5, 5, 5, 5, 6};
    CHECK(clpt_shard_write(P("cs.CL/valid_000.bin"), c, 7) == 0);
    CHECK(clpt_manifest_verify(m, 0) == CLPT_EFORMAT);
    CHECK(has("sha256") && has(P("cs.CL/valid_000.bin")) && has("cs.CL") && has(SHA_C));
    CHECK(clpt_manifest_verify(m, 1) == 0);  /* other domain unaffected */
    /* a different token count */
    CHECK(clpt_shard_write(P("cs.CL/valid_000.bin"), c, 6) == 0);
    CHECK(clpt_manifest_verify(m, -1) == CLPT_EFORMAT && has("6 tokens") && has("7"));
    unlink(P("cs.CL/train_001.bin"));
    CHECK(clpt_manifest_verify(m, 0) == CLPT_EIO && has("train_001.bin"));
    clpt_manifest_free(m);
}

int main(void)
{
    snprintf(dir, sizeof dir, "manifesttest.XXXXXX");
    if (!mkdtemp(dir)) SKIP_TEST("cannot create a temporary directory");
    test_round_trip();
    test_builder_errors();
    test_malformed();
    test_verify();
    clpt_fs_remove_tree(dir);
    CHECK_DONE();
}
