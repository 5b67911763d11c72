/* commands.h - one entry point per `microlens <command>`; argv excludes the command words. */
#ifndef ML_CLI_COMMANDS_H
#define ML_CLI_COMMANDS_H

int cmd_data_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_embed(int argc, char **argv);

#endif
