/* cmd_embed.c - `microlens embed`: flags -> load weights, OTU vectors and table -> ml_embed
 * -> TSV, then reports what was embedded and what was left out. */
#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "flags.h"
#include "tableflags.h"
#include "idkey.h"
#include "microlens/embed.h"
#include "microlens/manifest.h"
#include "progress.h"

/* Most OTU rows in one forward pass: about 80 MB of activations for the large model
 * (d_model 100, d_ff 400), and GEMMs tall enough for OpenBLAS to run at full speed. */
#define EMBED_MAX_TOKENS 16384
#define MAX_THREADS 256
/* Default worker count: one per CPU, but each worker holds its own activations (see above). */
#define DEFAULT_MAX_THREADS 8

typedef struct embed_flags {
    const char *weights, *table, *vectors, *out, *pubkey;
    size_t max_otus, batch, threads, heads;
    bool json, quiet, require_signature;
    cli_table_flags table_flags;
    cli_idkey_flags key;
} embed_flags;

static const char *const embed_examples[] = {
    "microlens synth --out cohort --dim 384 && tools/convert-upstream-checkpoint "
    "checkpoint.pt model.safetensors --nhead 5",
    "microlens embed --weights model.safetensors --table cohort/table.tsv "
    "--otu-vectors cohort/otu_vectors.safetensors --out emb.tsv",
    "microlens embed --weights model.safetensors --table feature-table.biom "
    "--otu-vectors prokbert_embeddings.h5 --out emb.tsv --max-otus 512 --threads 2 --json",
    NULL};

static const cli_command embed_cmd = {
    "embed", "--weights W.safetensors --table TABLE --otu-vectors V --out EMB.tsv [options]",
    "Embeds every sample with the set transformer (the upstream MicrobiomeTransformer): a\n"
    "sample is the set of its OTUs' vectors, its embedding the mean of the final hidden states.",
    "--weights: safetensors with the upstream state-dict names; sizes are read from the shapes,\n"
    "the head count from __metadata__ nhead or --heads. A PyTorch .pt checkpoint is refused:\n"
    "convert it with tools/convert-upstream-checkpoint. Any missing, extra or misshapen tensor\n"
    "is an error.\n"
    "If a MANIFEST sits beside the weights, the folder is verified first and must list the\n"
    "weights file (a flipped byte is refused, exit 4); with --require-signature (or\n"
    "MICROLENS_REQUIRE_SIGNATURE=1) a valid MANIFEST.sig checked with --pubkey is required.\n"
    "--otu-vectors: safetensors with one [D] tensor per OTU ID (as `microlens synth` writes),\n"
    "or HDF5 in the upstream layout /embeddings/<OTU_ID>. OTU IDs match exactly.\n"
    "A sample's set holds the OTUs with a value > 0 that have a vector; past --max-otus it keeps\n"
    "the most abundant (ties: first in the table). Samples with no such OTU get no row in the\n"
    "output: their count and the number of OTUs without a vector are reported on stderr (even\n"
    "with --quiet) and in --json.\n"
    "Output: TSV with the header sample, e0 .. e{d-1}; one row per embedded sample in input\n"
    "order, its pseudonym then d_model values (%.9g); written atomically. The values are bit\n"
    "for bit the same whatever --threads and --batch.",
    embed_examples, 0};

static int check_flags(const embed_flags *f, ml_table_read_options *ro) {
    if (!f->weights || !f->table || !f->vectors || !f->out)
        return cli_usage_error("embed needs --weights, --table, --otu-vectors and --out");
    if (f->max_otus == 0 || f->batch == 0)
        return cli_usage_error("--max-otus and --batch must be at least 1");
    if (f->threads > MAX_THREADS) return cli_usage_error("--threads must be at most %d", MAX_THREADS);
    return cli_table_read_options(&f->table_flags, ro);
}

static int print_json(const embed_flags *f, const ml_embed_summary *s,
                      const ml_settransformer_config *c, const ml_otuvec *v, double seconds) {
    json_t *doc = json_pack(
        "{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:s, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:f, s:f}",
        "out", f->out, "weights", f->weights, "model", "d_in", (json_int_t)c->d_in, "d_model",
        (json_int_t)c->d_model, "n_layers", (json_int_t)c->n_layers, "n_heads",
        (json_int_t)c->n_heads, "d_ff", (json_int_t)c->d_ff, "otu_vectors", "format",
        ml_otuvec_format_name(v), "count", (json_int_t)ml_otuvec_count(v), "dim",
        (json_int_t)ml_otuvec_dim(v), "n_samples", (json_int_t)s->n_samples, "n_embedded",
        (json_int_t)s->n_embedded, "n_without_vectors", (json_int_t)s->n_without_vectors,
        "n_truncated", (json_int_t)s->n_truncated, "n_otus_present",
        (json_int_t)s->n_otus_present, "n_otus_missing", (json_int_t)s->n_otus_missing,
        "n_tokens", (json_int_t)s->n_tokens, "seconds", seconds, "samples_per_second",
        seconds > 0 ? (double)s->n_embedded / seconds : 0.0);
    if (!doc || json_dumpf(doc, stdout, JSON_PRESERVE_ORDER) != 0) {
        json_decref(doc);
        fprintf(stderr, "microlens: cannot write JSON summary\n");
        return EXIT_FAILURE_RUNTIME;
    }
    fputc('\n', stdout);
    json_decref(doc);
    return EXIT_OK;
}

static void report(const embed_flags *f, const ml_embed_summary *s, double seconds) {
    if (s->n_without_vectors > 0 || s->n_otus_missing > 0)
        fprintf(stderr, "microlens: warning: %zu of %zu samples have no OTU with a vector and "
                "were left out of %s; %zu of %zu OTUs present have no vector\n",
                s->n_without_vectors, s->n_samples, f->out, s->n_otus_missing,
                s->n_otus_present);
    if (f->json) return;
    printf("wrote %s (%zu samples x %zu dimensions, %zu OTU rows, %.2f s)\n", f->out,
           s->n_embedded, s->dim, s->n_tokens, seconds);
    if (s->n_truncated > 0)
        printf("%zu samples had more than %zu OTUs and kept their %zu most abundant\n",
               s->n_truncated, f->max_otus, f->max_otus);
}

/* --threads, or one per online CPU up to DEFAULT_MAX_THREADS. */
static size_t worker_count(const embed_flags *f) {
    if (f->threads > 0) return f->threads;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) return 1;
    return cpus > DEFAULT_MAX_THREADS ? DEFAULT_MAX_THREADS : (size_t)cpus;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_embed(const embed_flags *f) {
    int rc, st = ML_OK;
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    if ((rc = check_flags(f, &ro)) != EXIT_OK) return rc;
    /* parallel over samples, not inside GEMMs: the workers' small GEMMs gain little from
     * OpenBLAS threads, and T workers x T BLAS threads would oversubscribe the cores */
    openblas_set_num_threads(1);
    ml_pseudonym_key *key = NULL;
    ml_settransformer *model = NULL;
    ml_otuvec *vectors = NULL;
    ml_table *table = NULL;
    ml_embeddings *emb = NULL;
    ml_settransformer_load_options lo = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    lo.n_heads = f->heads;
    lo.max_set_tokens = f->max_otus;
    lo.max_sets = f->batch;
    lo.max_tokens = f->batch > EMBED_MAX_TOKENS / f->max_otus ? EMBED_MAX_TOKENS
                                                               : f->batch * f->max_otus;
    if (lo.max_tokens < f->max_otus) lo.max_tokens = f->max_otus;
    if ((st = cli_idkey_resolve(&key, &f->key, f->quiet)) != ML_OK) goto fail;
    ml_verify_options vo = ML_VERIFY_OPTIONS_INIT;
    vo.pubkey_path = f->pubkey;
    vo.require_signature = f->require_signature || cli_env_flag("MICROLENS_REQUIRE_SIGNATURE");
    if ((st = ml_weights_verify(f->weights, &vo, NULL)) != ML_OK) goto fail;
    if ((st = ml_settransformer_load(&model, f->weights, &lo)) != ML_OK) goto fail;
    if ((st = ml_otuvec_read(&vectors, f->vectors)) != ML_OK) goto fail;
    if ((st = ml_table_read(&table, f->table, &ro)) != ML_OK) goto fail;
    cli_progress progress;
    cli_progress_start(&progress, "embedding", f->quiet);
    ml_embed_options eo = ML_EMBED_OPTIONS_INIT;
    eo.max_otus = f->max_otus;
    eo.batch = f->batch;
    eo.progress = cli_progress_callback;
    eo.progress_ctx = &progress;
    eo.threads = worker_count(f);
    double t0 = now_s();
    st = ml_embed(&emb, model, table, vectors, &eo);
    double seconds = now_s() - t0;
    cli_progress_finish(&progress);
    if (st != ML_OK) goto fail;
    if ((st = ml_embeddings_write_tsv(emb, table, key, f->out)) != ML_OK) goto fail;
    ml_embed_summary s;
    ml_embeddings_summary(emb, &s);
    report(f, &s, seconds);
    rc = f->json ? print_json(f, &s, ml_settransformer_get_config(model), vectors, seconds)
                 : EXIT_OK;
    goto done;
fail:
    rc = cli_fail(st);
done:
    ml_embeddings_free(emb);
    ml_table_free(table);
    ml_otuvec_free(vectors);
    ml_settransformer_free(model);
    ml_pseudonym_key_free(key);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    embed_flags f = {0};
    f.max_otus = 1024;
    f.batch = 64;
    const cli_flag flags[] = {
        {"--weights", "W", CLI_STRING, &f.weights,
         "model weights: safetensors, upstream state-dict names", NULL},
        {"--table", "TABLE", CLI_STRING, &f.table,
         "abundance table (TSV/CSV, MetaPhlAn, BIOM JSON/HDF5)", NULL},
        {"--otu-vectors", "V", CLI_STRING, &f.vectors,
         "OTU vectors: safetensors [D] per OTU ID, or HDF5 /embeddings/<OTU_ID>", NULL},
        {"--out", "EMB.tsv", CLI_STRING, &f.out, "output TSV (written atomically)", NULL},
        {"--max-otus", "N", CLI_SIZE, &f.max_otus,
         "most OTUs per sample (the most abundant are kept)", "1024"},
        {"--batch", "B", CLI_SIZE, &f.batch, "samples per forward pass", "64"},
        {"--threads", "T", CLI_SIZE, &f.threads,
         "worker threads, each embedding its own batches (output does not depend on it)",
         "one per CPU, at most 8"},
        {"--heads", "H", CLI_SIZE, &f.heads, "attention heads, if the file has no nhead",
         "the file's __metadata__ nhead"},
        {"--pubkey", "KEY.pub", CLI_STRING, &f.pubkey,
         "Ed25519 public key to check the weights folder's MANIFEST.sig", NULL},
        {"--require-signature", NULL, CLI_BOOL, &f.require_signature,
         "refuse weights without a valid signature (also MICROLENS_REQUIRE_SIGNATURE=1)", NULL},
        CLI_TABLE_FLAGS(f.table_flags),
        {"--json", NULL, CLI_BOOL, &f.json, "print a JSON summary on stdout", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "no notices or progress on stderr", NULL},
        CLI_IDKEY_FLAGS(f.key),
    };
    int rc = cli_parse(argc, argv, &embed_cmd, flags, sizeof flags / sizeof *flags, NULL);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    return run_embed(&f);
}
