/* checkpoint.h - model checkpoints in the Hugging Face layout.
 *
 * A checkpoint is a directory:
 *   config.json            GPT2Config (loads with transformers' from_pretrained)
 *   model.safetensors      the parameters under their Hugging Face names
 *                          ("transformer.h.0.attn.c_attn.weight", ...), F32,
 *                          metadata {"format": "pt"}; lm_head is tied to wte
 *                          and not written
 *   optimizer.safetensors  optional: AdamW moments "exp_avg.<name>" and
 *                          "exp_avg_sq.<name>", metadata "step" (decimal)
 *   state.json             optional: the caller's run state (RNG, data
 *                          position, schedule, strategy state, ...)
 * so a model downloaded from the Hub loads as is, and a clpt checkpoint loads
 * in transformers; the optimizer and state files allow an exact resume.
 *
 * Crash safety. clpt_ckpt_save(dir) never modifies `dir` in place:
 *   1. clpt_ckpt_recover(dir), then remove any stale "<dir>.tmp";
 *   2. write every file into "<dir>.tmp" (each fsync'ed), fsync "<dir>.tmp";
 *   3. if `dir` exists, rename it to "<dir>.old"; fsync the parent;
 *   4. rename "<dir>.tmp" to `dir`; fsync the parent   <- commit point
 *   5. remove "<dir>.old"; fsync the parent.
 * Renames within one directory are atomic, so after a kill at any moment
 * either `dir` is a complete checkpoint (old or new) or `dir` is missing and
 * "<dir>.old" is the complete previous one (between steps 3 and 4). No
 * completion marker file is needed: `dir` only ever appears by the rename
 * of a fully written and synced directory, and a marker would also make
 * plain Hugging Face downloads look incomplete. clpt_ckpt_recover() repairs
 * the window: it renames "<dir>.old" back to `dir` when `dir` is missing
 * (preferring the previous checkpoint over a "<dir>.tmp" whose save never
 * returned, so state recorded after a successful save stays consistent),
 * and removes leftover "<dir>.tmp" / "<dir>.old" when `dir` exists; the
 * writer calls it (a save, a run opening its folder). The load functions
 * never repair, since another process may be saving between steps 3 and 4:
 * when `dir` is missing they read "<dir>.old", the complete previous
 * checkpoint. `dir` is replaced as a whole: files that clpt did not write
 * there are not carried over. Concurrent saves to the same `dir` are not
 * supported.
 *
 * All functions return 0 or a negative CLPT_E* code; messages name the
 * file and the key or tensor. */
#ifndef CLPT_CHECKPOINT_H
#define CLPT_CHECKPOINT_H

#include <cjson/cJSON.h>

#include "model.h"

/* Read <dir>/config.json into cfg. Keys: n_layer, n_head, n_embd,
 * n_positions (falls back to n_ctx), vocab_size, layer_norm_epsilon
 * (default 1e-5). Refused (CLPT_EUNSUP, naming the key): an
 * activation_function other than the tanh GELUs "gelu_new",
 * "gelu_pytorch_tanh" and "gelu_fast" (all the same function; exact "gelu"
 * would change the outputs), tie_word_embeddings false, n_inner other than
 * null or 4*n_embd, model_type other than "gpt2", add_cross_attention true,
 * scale_attn_weights false, scale_attn_by_inverse_layer_idx true. */
int clpt_ckpt_read_config(const char *dir, clpt_model_config *cfg);

/* The same from a JSON text of `len` bytes; `label` names it in messages. */
int clpt_ckpt_parse_config(const char *json, size_t len, const char *label,
                           clpt_model_config *cfg);

/* Load <dir>/model.safetensors into m's parameters. Names are accepted with
 * or without the "transformer." prefix; dtypes F32, F16, BF16, F64. The
 * buffers "*.attn.bias" / "*.attn.masked_bias" of older checkpoints are
 * ignored; "lm_head.weight" is accepted when it equals wte (tied) and
 * refused otherwise. A missing, repeated, unknown or wrongly shaped tensor
 * is an error naming it; m is unchanged on any error. */
int clpt_ckpt_load_weights(clpt_model *m, const char *dir);

/* Save m (parameters; with_optimizer != 0 adds the AdamW moments and step)
 * and `state` (may be NULL: no state.json; borrowed, not modified) to `dir`
 * with the crash-safe protocol above. The parent directory is created if
 * needed. */
int clpt_ckpt_save(clpt_model *m, const char *dir, const cJSON *state, int with_optimizer);

/* Load <dir>/optimizer.safetensors into m's AdamW moments and step. Every
 * model tensor must be present with its shape, F32. m is unchanged on error. */
int clpt_ckpt_load_optimizer(clpt_model *m, const char *dir);

/* Read <dir>/state.json. *out is a new cJSON object (caller frees with
 * cJSON_Delete), or NULL when the checkpoint has no state.json (returns 0). */
int clpt_ckpt_load_state(const char *dir, cJSON **out);

/* Repair what an interrupted save left behind (see above). Returns 0 when
 * `dir` exists afterwards or nothing was there at all. */
int clpt_ckpt_recover(const char *dir);

/* Load a whole checkpoint: config, then a new model on backend `be` with its
 * weights. Caller frees *out with clpt_model_free(). */
int clpt_ckpt_load_model(clpt_model **out, const char *dir, const clpt_backend *be);

#endif
