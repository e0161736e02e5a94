/* commands.h - the subcommands of the `clpt` command. Each lives in its own
 * core/cli/cmd_*.c file; main.c dispatches on argv[1]. A command returns the
 * process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef CLPT_COMMANDS_H
#define CLPT_COMMANDS_H

int clpt_cmd_train(int argc, char **argv);
int clpt_cmd_eval(int argc, char **argv);
int clpt_cmd_tokenizer(int argc, char **argv);
int clpt_cmd_prepare(int argc, char **argv);
int clpt_cmd_plugins(int argc, char **argv);
int clpt_cmd_plugin(int argc, char **argv);
int clpt_cmd_config(int argc, char **argv);
int clpt_cmd_run(int argc, char **argv);
int clpt_cmd_report(int argc, char **argv);

#endif
