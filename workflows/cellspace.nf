/*
 * CELLSPACE: prepare each dataset -> (select features) -> train one joint embedding -> export.
 */

include { PREPARE_DATASET             } from '../modules/local/prepare_dataset/main'
include { PREPARE_DATASET as PREPARE_QUERY } from '../modules/local/prepare_dataset/main'
include { MAP_CELLS                   } from '../modules/local/map_cells/main'
include { SELECT_FEATURES             } from '../modules/local/select_features/main'
include { TRAIN_CELLSPACE             } from '../modules/local/train_cellspace/main'
include { EXPORT                      } from '../modules/local/export/main'
include { MOTIFS                      } from '../modules/local/motifs/main'
include { ANALYZE                     } from '../modules/local/analyze/main'
include { DENOVO                      } from '../modules/local/denovo/main'
include { INTEGRATE                   } from '../modules/local/integrate/main'
include { TRAJECTORY                  } from '../modules/local/trajectory/main'
include { BENCH_RUN_METHOD            } from '../modules/local/bench_run_method/main'
include { BENCH_SCORE                 } from '../modules/local/bench_score/main'
include { BENCH_BOOTSTRAP             } from '../modules/local/bench_bootstrap/main'
include { BENCH_BOOTSTRAP_MERGE       } from '../modules/local/bench_bootstrap_merge/main'
include { CUSTOM_DUMPSOFTWAREVERSIONS } from '../modules/local/custom_dumpsoftwareversions/main'
include { REPORT                      } from '../modules/local/report/main'

workflow CELLSPACE {
    take:
    ch_samplesheet   // channel: [meta, data, sequences, genome, peaks, cells, obs] one per dataset
    ch_query         // channel: the same, one per query dataset to map (empty without --query)

    main:
    if (params.integrate_batch_key && !params.integrate_reference) {
        error("--integrate_batch_key needs --integrate_reference (the reference batch, a value of that column)")
    }
    ch_versions = Channel.empty()

    //
    // 1. One validated h5ad (with event sequences in var["sequence"]) per dataset
    //
    def blacklist = params.blacklist ? file(params.blacklist, checkIfExists: true) : []
    PREPARE_DATASET(ch_samplesheet, blacklist, [tile_size: params.tile_size, min_fragments: params.min_fragments])
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

    // the parameters of the schema's training group, each passed to the step as its flag
    def train_keys = new groovy.json.JsonSlurper()
        .parseText(file("${projectDir}/nextflow_schema.json").text)['$defs']['training_options']['properties']
        .keySet()
    def train_opts = params.subMap(train_keys)
    TRAIN_CELLSPACE(ch_train_input, train_opts)
    ch_versions = ch_versions.mix(TRAIN_CELLSPACE.out.versions)

    //
    // 3b. With --query: prepare the query datasets and map their cells into the trained model
    //     (k-mer and n-gram rows frozen)
    //
    if (params.query) {
        PREPARE_QUERY(ch_query, blacklist, [tile_size: params.tile_size, min_fragments: params.min_fragments])
        ch_versions = ch_versions.mix(PREPARE_QUERY.out.versions)
        ch_query_h5ads = PREPARE_QUERY.out.h5ad
            .toSortedList { a, b -> a[0].id <=> b[0].id }
            .map { rows -> [rows.collect { it[1] }] }
        MAP_CELLS(TRAIN_CELLSPACE.out.model
            .combine(ch_query_h5ads)
            .map { meta, model, files -> [[id: 'query', model: meta.id], model, files] })
        ch_versions = ch_versions.mix(MAP_CELLS.out.versions)
    }

    //
    // 4. Export the model for the CellSpace R package
    //
    EXPORT(TRAIN_CELLSPACE.out.model, params.export_format)
    ch_versions = ch_versions.mix(EXPORT.out.versions)

    //
    // 5. Downstream analyses of the trained embedding
    //
    ch_model_cells = TRAIN_CELLSPACE.out.model.join(TRAIN_CELLSPACE.out.cells)   // [meta, model, cells]
    ch_motifs      = Channel.empty()
    ch_analyzed    = Channel.empty()
    // folders for the report: [] for a step that does not run
    ch_report_motifs    = Channel.value([])
    ch_report_analyze   = Channel.value([])
    ch_report_denovo    = Channel.value([])
    ch_report_benchmark = Channel.value([])

    // 5a. TF motifs embedded in the latent space, scored per cell
    if (!params.skip_motifs) {
        MOTIFS(ch_model_cells)
        ch_versions = ch_versions.mix(MOTIFS.out.versions)
        ch_motifs   = MOTIFS.out.scores
        ch_report_motifs = MOTIFS.out.outdir.map { meta, dir -> dir }.collect()
    }

    // 5b. kNN/SNN graphs, clusters, UMAP (+ joint cells/motifs UMAP when motifs were scored)
    if (!params.skip_analyze) {
        ch_analyze_input = params.skip_motifs
            ? TRAIN_CELLSPACE.out.cells.map { meta, cells -> [meta, cells, []] }
            : TRAIN_CELLSPACE.out.cells.join(ch_motifs)
        ANALYZE(ch_analyze_input)
        ch_versions = ch_versions.mix(ANALYZE.out.versions)
        ch_analyzed = ANALYZE.out.cells
        ch_report_analyze = ANALYZE.out.outdir.map { meta, dir -> dir }.collect()
    }

    // model + cells, with the clusters of ANALYZE when it ran (DENOVO and TRAJECTORY use them)
    ch_model_clustered = params.skip_analyze ? ch_model_cells : TRAIN_CELLSPACE.out.model.join(ch_analyzed)

    // 5c. De novo motifs from the k-mer embedding
    if (!params.skip_denovo) {
        DENOVO(ch_model_clustered)
        ch_versions = ch_versions.mix(DENOVO.out.versions)
        ch_report_denovo = DENOVO.out.outdir.map { meta, dir -> dir }.collect()
    }

    // 5d. Anchor integration of the batches (only with --integrate_batch_key)
    if (params.integrate_batch_key) {
        INTEGRATE(ch_model_cells, [
            batch_key: params.integrate_batch_key,
            reference: params.integrate_reference,
            label_key: params.integrate_label_key ?: null,
        ])
        ch_versions = ch_versions.mix(INTEGRATE.out.versions)
    }

    // 5e. Palantir pseudotime (only with --trajectory or --trajectory_start)
    if (params.trajectory || params.trajectory_start) {
        TRAJECTORY(ch_model_clustered, params.trajectory_start ?: '')
        ch_versions = ch_versions.mix(TRAJECTORY.out.versions)
    }

    //
    // 6. Benchmark of competing methods on each prepared dataset (only with --benchmark)
    //
    if (params.benchmark) {
        def methods = params.benchmark_methods.toString().tokenize(',')*.trim().findAll { it }
        def bench_opts = [
            label_key   : params.benchmark_label_key,
            batch_key   : params.benchmark_batch_key ?: null,
            seed        : params.seed,
            n_chunks    : params.bootstrap_chunks as int,
            n_replicates: (params.bootstrap_chunks as int) * (params.bootstrap_replicates as int),
        ]
        // one task per dataset and method, run in parallel
        BENCH_RUN_METHOD(ch_prepared.combine(Channel.fromList(methods)), bench_opts)
        ch_versions = ch_versions.mix(BENCH_RUN_METHOD.out.versions)

        BENCH_SCORE(BENCH_RUN_METHOD.out.h5ad, bench_opts)
        ch_versions = ch_versions.mix(BENCH_SCORE.out.versions)

        // all methods of a dataset (sorted: stable inputs for -resume) + the trained cells
        // (X_cellspace) -> one bootstrap task per chunk
        ch_cells = TRAIN_CELLSPACE.out.cells.map { meta, cells -> cells }
        ch_bootstrap_input = BENCH_RUN_METHOD.out.h5ad
            .map { meta, h5ad, method -> [meta.id, meta, h5ad] }
            .groupTuple(size: methods.size())
            .map { id, metas, h5ads -> [metas[0], h5ads.sort { it.name }] }
            .combine(ch_cells)
            .combine(Channel.of(0..<(params.bootstrap_chunks as int)).flatten())
        BENCH_BOOTSTRAP(ch_bootstrap_input, bench_opts)
        ch_versions = ch_versions.mix(BENCH_BOOTSTRAP.out.versions)

        ch_chunks = BENCH_BOOTSTRAP.out.chunk
            .map { meta, chunk -> [meta.id, meta, chunk] }
            .groupTuple(size: params.bootstrap_chunks as int)
            .map { id, metas, chunks -> [metas[0], chunks.sort { it.name }] }
        BENCH_BOOTSTRAP_MERGE(ch_chunks)
        ch_versions = ch_versions.mix(BENCH_BOOTSTRAP_MERGE.out.versions)
        ch_report_benchmark = BENCH_BOOTSTRAP_MERGE.out.report
            .map { meta, dir -> dir }
            .toSortedList { a, b -> a.name <=> b.name }
    }

    //
    // 7. Collect software versions (sorted: stable task hash for -resume)
    //
    CUSTOM_DUMPSOFTWAREVERSIONS(
        ch_versions.unique().collect(sort: true),
        [(workflow.manifest.name): workflow.manifest.version, Nextflow: workflow.nextflow.version.toString()]
    )

    //
    // 8. One self-contained HTML page of the run: OUTDIR/report.html
    //
    if (!params.skip_report) {
        REPORT(
            TRAIN_CELLSPACE.out.outdir,
            ch_prepared.map { meta, h5ad -> h5ad }.toSortedList { a, b -> a.name <=> b.name },
            ch_report_analyze,
            ch_report_motifs,
            ch_report_denovo,
            ch_report_benchmark,
            CUSTOM_DUMPSOFTWAREVERSIONS.out.yml,
        )
    }

    emit:
    prepared = ch_prepared                       // [meta, h5ad] per dataset
    cells    = TRAIN_CELLSPACE.out.cells         // [meta, cells.h5ad]
    model    = TRAIN_CELLSPACE.out.model         // [meta, model.npz]
    export   = EXPORT.out.export                 // [meta, model.tsv]
    versions = CUSTOM_DUMPSOFTWAREVERSIONS.out.yml
}
