/* main.c - the `clpt` command: dispatch to a subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"

/* Subcommands are linked in as their files exist; a missing one is weak and
 * NULL, and is reported as not built rather than failing the link. */
#pragma weak clpt_cmd_train
#pragma weak clpt_cmd_eval
#pragma weak clpt_cmd_tokenizer
#pragma weak clpt_cmd_prepare
#pragma weak clpt_cmd_plugins
#pragma weak clpt_cmd_plugin
#pragma weak clpt_cmd_config
#pragma weak clpt_cmd_run
#pragma weak clpt_cmd_report

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"train", clpt_cmd_train, "train a model on token shards (--config X.ini)"},
    {"eval", clpt_cmd_eval, "perplexity of a model on a token shard"},
    {"tokenizer", clpt_cmd_tokenizer, "encode, decode, or train a BPE tokenizer"},
    {"prepare", clpt_cmd_prepare, "turn a text corpus into token shards + manifest"},
    {"plugins", clpt_cmd_plugins, "list the strategy plugins found"},
    {"plugin", clpt_cmd_plugin, "check a strategy plugin (plugin check FILE.so)"},
    {"config", clpt_cmd_config, "show or check ini configuration keys"},
    {"run", clpt_cmd_run, "run a Lua experiment script"},
    {"report", clpt_cmd_report, "write reports from run directories"},
};

static void usage(FILE *f)
{
    fprintf(f, "clpt %s - continual domain-adaptive pretraining\n\n"
               "usage: clpt COMMAND [ARGS]\n\ncommands:\n", CLPT_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn)
            fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'clpt COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    /* Past a file-size limit (ulimit -f) a write then fails with EFBIG, which
     * every writer reports naming the file and undoes, instead of the
     * default SIGXFSZ killing the process mid-write with a core dump. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clpt %s\n", CLPT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        if (!commands[i].fn) {
            fprintf(stderr, "clpt: command '%s' is not part of this build\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "clpt: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
