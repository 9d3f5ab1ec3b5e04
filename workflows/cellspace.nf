/*
 * CELLSPACE: prepare each dataset -> (select features) -> train one joint embedding -> export.
 */

include { PREPARE_DATASET             } from '../modules/local/prepare_dataset/main'
include { SELECT_FEATURES             } from '../modules/local/select_features/main'
include { TRAIN_CELLSPACE             } from '../modules/local/train_cellspace/main'
include { EXPORT                      } from '../modules/local/export/main'
include { CUSTOM_DUMPSOFTWAREVERSIONS } from '../modules/local/custom_dumpsoftwareversions/main'

workflow CELLSPACE {
    take:
    ch_samplesheet   // channel: [meta, data, sequences, cells, obs] one per dataset

    main:
    ch_versions = Channel.empty()

    //
    // 1. One validated h5ad (with event sequences in var["sequence"]) per dataset
    //
    PREPARE_DATASET(ch_samplesheet)
    ch_versions = ch_versions.mix(PREPARE_DATASET.out.versions)
    ch_prepared = PREPARE_DATASET.out.h5ad

    //
    // 2. Optional: keep the top variable events of each dataset
    //
    if (params.n_features && (params.n_features as int) > 0) {
        SELECT_FEATURES(ch_prepared, params.n_features as int)
        ch_versions = ch_versions.mix(SELECT_FEATURES.out.versions)
        ch_prepared = SELECT_FEATURES.out.h5ad
    }

    //
    // 3. Train one CellSpace embedding on all datasets together (sorted by dataset name, so the
    //    task inputs, and therefore -resume, do not depend on which dataset finished first)
    //
    ch_train_input = ch_prepared
        .toSortedList { a, b -> a[0].id <=> b[0].id }
        .map { rows -> [[id: 'cellspace', datasets: rows.collect { it[0].id }], rows.collect { it[1] }] }

    def train_opts = [
        dim               : params.dim,
        ngrams            : params.ngrams,
        k                 : params.k,
        sample_len        : params.sample_len,
        examples_per_event: params.examples_per_event,
        epochs            : params.epochs,
        margin            : params.margin,
        bucket            : params.bucket,
        lr                : params.lr,
        neg_search_limit  : params.neg_search_limit,
        max_neg_samples   : params.max_neg_samples,
        init_sd           : params.init_sd,
        batch_size        : params.batch_size,
        seed              : params.seed,
        checkpoint_every  : params.checkpoint_every,
        batch_key         : params.batch_key ?: null,
    ]
    TRAIN_CELLSPACE(ch_train_input, train_opts)
    ch_versions = ch_versions.mix(TRAIN_CELLSPACE.out.versions)

    //
    // 4. Export the model for the CellSpace R package
    //
    EXPORT(TRAIN_CELLSPACE.out.model, params.export_format)
    ch_versions = ch_versions.mix(EXPORT.out.versions)

    //
    // 5. Downstream analyses attach here, each taking TRAIN_CELLSPACE.out.cells/model:
    //    motif embedding (cellspace motifs), clustering/UMAP (cellspace analyze),
    //    trajectories (cellspace trajectory), de novo motifs (cellspace denovo),
    //    integration benchmarks (cellspace integrate), bootstrap stability (cellspace bootstrap).
    //

    //
    // 6. Collect software versions (sorted: stable task hash for -resume)
    //
    CUSTOM_DUMPSOFTWAREVERSIONS(
        ch_versions.unique().collect(sort: true),
        [(workflow.manifest.name): workflow.manifest.version, Nextflow: workflow.nextflow.version.toString()]
    )

    emit:
    prepared = ch_prepared                       // [meta, h5ad] per dataset
    cells    = TRAIN_CELLSPACE.out.cells         // [meta, cells.h5ad]
    model    = TRAIN_CELLSPACE.out.model         // [meta, model.npz]
    export   = EXPORT.out.export                 // [meta, model.tsv]
    versions = CUSTOM_DUMPSOFTWAREVERSIONS.out.yml
}
