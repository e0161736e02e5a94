/* cmd_train.c - `clpt train --config X.ini [--set k=v] [--resume]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"
#include "config.h"
#include "train.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clpt train --config FILE.ini [--config MORE.ini] [--set section.key=value]...\n"
            "                  [--resume] [--stop-at STEP]\n\n"
            "Train a model on token shards as the configuration says (see configs/README.md).\n"
            "Checkpoints go to <train.out_dir>/checkpoint (Hugging Face layout) and metrics\n"
            "to <train.out_dir>/train.jsonl. --resume continues from the checkpoint there,\n"
            "exactly: weights, AdamW state, data position and schedule. --stop-at STEP\n"
            "stops and saves after that many optimizer steps (resume later).\n"
            "SIGINT or SIGTERM stops after the current step and saves a checkpoint.\n");
}

int clpt_cmd_train(int argc, char **argv)
{
    clpt_config cfg;
    int resume = 0, nconf = 0;
    long long stop_at = 0;
    if (clpt_config_defaults(&cfg)) goto fail;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--stop-at") && i + 1 < argc) {
            stop_at = strtoll(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--config") && i + 1 < argc) {
            if (clpt_config_load(&cfg, argv[++i])) goto fail;
            nconf++;
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (clpt_config_set_arg(&cfg, argv[++i], "command line")) goto fail;
        } else {
            fprintf(stderr, "clpt train: unknown or incomplete argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!nconf) {
        usage(stderr);
        return 2;
    }
    if (clpt_config_validate(&cfg)) goto fail;
    int rc = clpt_train_run(&cfg, resume, stop_at);
    if (rc < 0) goto fail;
    return rc;
fail:
    fprintf(stderr, "clpt train: %s\n", clpt_errmsg());
    return 1;
}
