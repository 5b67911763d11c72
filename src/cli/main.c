/* main.c - `microlens`: dispatches to a command; every command is a thin layer over the
 * public API in include/microlens/. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "microlens/memory.h"

typedef struct command_entry {
    const char *word1, *word2; /* "data" "inspect"; word2 NULL for one-word commands */
    int (*run)(int argc, char **argv);
    const char *summary;
} command_entry;

static const command_entry commands[] = {
    {"data", "inspect", cmd_data_inspect,
     "read a table (+ labels) and report size, depth, balance, duplicates, outliers"},
    {"synth", NULL, cmd_synth, "write a synthetic cohort (counts, labels, OTU vectors)"},
    {"embed", NULL, cmd_embed, "embed samples with the set transformer (weights + OTU vectors)"},
    {"tensors", NULL, cmd_tensors, "list a safetensors file's tensors, shapes and statistics"},
    {"keygen", NULL, cmd_keygen, "create an Ed25519 key pair for signing checkpoints"},
    {"manifest", NULL, cmd_manifest, "write a checkpoint folder's MANIFEST (SHA-256 + size)"},
    {"sign", NULL, cmd_sign, "sign a checkpoint's MANIFEST with an Ed25519 key (MANIFEST.sig)"},
    {"verify", NULL, cmd_verify, "verify a checkpoint folder's MANIFEST hashes and signature"},
    {"evaluate", NULL, cmd_evaluate, "cross-validate a classifier (leakage-safe, nested, grouped)"},
    {"train", NULL, cmd_train, "train an MLP or the set transformer into a run folder (checkpoints, resume)"},
    {"analyze", NULL, cmd_analyze, "analyse a training run (microlens or Hugging Face): findings and a verdict"},
    {"report", NULL, cmd_report, "write a run's report (HTML with plots, Markdown, JSON); --compare two runs"},
    {"export", NULL, cmd_export, "export a run as CSV, JSON Lines, NumPy .npy or a TensorBoard event file"},
    {"serve", NULL, cmd_serve, "serve predictions over HTTPS (tokens, limits, access log)"},
    {"token", "new", cmd_token_new, "make a bearer token for `serve` (shown once) and its tokens-file line"},
};

static void print_usage(FILE *out) {
    fprintf(out, "Usage: microlens [--help] [--version] <command> [options]\n\n"
                 "Trains, inspects and serves models on microbiome health data.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", commands[i].word1, commands[i].word2 ? " " : "",
                 commands[i].word2 ? commands[i].word2 : "");
        fprintf(out, "  %-16s %s\n", name, commands[i].summary);
    }
    fprintf(out, "\n`microlens <command> --help` shows a command's options and examples.\n\n"
                 "Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 input data rejected,\n"
                 "4 integrity check refused.\n\n"
                 "Environment: MICROLENS_ID_KEY  key for sample pseudonyms (hex or text)\n\n"
                 "Examples:\n"
                 "  microlens synth --out cohort\n"
                 "  microlens data inspect cohort/table.tsv --labels cohort/labels.csv\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("microlens %s\n", ml_version());
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const command_entry *c = &commands[i];
        if (strcmp(argv[1], c->word1) != 0) continue;
        if (!c->word2) return c->run(argc - 2, argv + 2);
        if (argc >= 3 && strcmp(argv[2], c->word2) == 0) return c->run(argc - 3, argv + 3);
        if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            printf("Usage: microlens %s <subcommand>\n\nSubcommands:\n", c->word1);
            for (size_t k = 0; k < sizeof commands / sizeof *commands; k++)
                if (strcmp(commands[k].word1, c->word1) == 0)
                    printf("  %-10s %s\n", commands[k].word2 ? commands[k].word2 : "",
                           commands[k].summary);
            return EXIT_OK;
        }
        return cli_usage_error("unknown subcommand \"%s %s\"", argv[1],
                               argc >= 3 ? argv[2] : "");
    }
    return cli_usage_error("unknown command \"%s\"", argv[1]);
}
