/* bpe_train.h - learn a GPT-2-style byte-level BPE from text.
 *
 *   clpt_bpe_trainer *tr;  clpt_bpe_trainer_new(&tr);
 *   clpt_bpe_trainer_add_path(tr, "corpus/");      (or _add_text)
 *   clpt_bpe_trainer_train(tr, &(clpt_bpe_train_opts){.vocab_size = 8192});
 *   clpt_bpe_trainer_write(tr, "out/");            -> vocab.json, merges.txt
 *   clpt_bpe_trainer_free(tr);
 *
 * Text is split with GPT-2's pre-tokenizer (unicode.h) and the distinct
 * pre-tokens are counted; merges never cross a pre-token. Ids 0..255 are the
 * byte tokens in GPT-2's order (printable bytes first, as in its
 * encoder.json), then one id per learned token, then "<|endoftext|>" last.
 *
 * Each step merges the adjacent pair that occurs most often, counting every
 * occurrence in every pre-token times that pre-token's count. Ties go to the
 * pair whose left token has the smaller id, then the right token's smaller
 * id. The result depends only on the multiset of pre-tokens, not on the
 * order of files or texts. Pair counts are updated incrementally, only in
 * the pre-tokens that hold the merged pair.
 *
 * The files load in clpt_tokenizer_load and in Hugging Face tokenizers
 * (BPE + ByteLevel pre-tokenizer), which encode identically. */
#ifndef CLPT_BPE_TRAIN_H
#define CLPT_BPE_TRAIN_H

#include <stddef.h>
#include <stdio.h>

typedef struct clpt_bpe_trainer clpt_bpe_trainer;

typedef struct clpt_bpe_train_opts {
    int vocab_size;    /* ids in all: 256 bytes + learned + 1 end-of-text; >= 257 */
    int min_frequency; /* stop early when the best pair occurs fewer times; 0 -> 2 */
    FILE *log;         /* progress lines, or NULL */
} clpt_bpe_train_opts;

/* New empty trainer in *out; caller frees with clpt_bpe_trainer_free. */
int clpt_bpe_trainer_new(clpt_bpe_trainer **out);
void clpt_bpe_trainer_free(clpt_bpe_trainer *tr);

/* Count the pre-tokens of text[0..len) (any bytes). Not after _train. */
int clpt_bpe_trainer_add_text(clpt_bpe_trainer *tr, const void *text, size_t len);

/* Count a file, or every *.txt file under a directory (recursively, in name
 * order). CLPT_EIO names the path. */
int clpt_bpe_trainer_add_path(clpt_bpe_trainer *tr, const char *path);

/* Learn the merges. Once only. */
int clpt_bpe_trainer_train(clpt_bpe_trainer *tr, const clpt_bpe_train_opts *opts);

/* Number of ids learned so far, "<|endoftext|>" included (after _train). */
int clpt_bpe_trainer_vocab_size(const clpt_bpe_trainer *tr);

/* Write dir/vocab.json and dir/merges.txt (creating dir if missing). */
int clpt_bpe_trainer_write(const clpt_bpe_trainer *tr, const char *dir);

#endif
