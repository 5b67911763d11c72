/* commands.h - one entry point per `microlens <command>`; argv excludes the command words. */
#ifndef ML_CLI_COMMANDS_H
#define ML_CLI_COMMANDS_H

int cmd_data_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_tensors(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token_new(int argc, char **argv);

#endif
