process TRAIN_CELLSPACE {
    tag "$meta.id"
    label 'process_high'
    label 'process_long'
    container 'cellspace:0.1.0'

    input:
    // all prepared datasets, trained together (one --h5ad per dataset)
    tuple val(meta), path(h5ads, stageAs: 'input/*')
    // training hyper-parameters: dim, ngrams, k, sample_len, examples_per_event, epochs, margin,
    // bucket, lr, neg_search_limit, max_neg_samples, init_sd, batch_size, seed, checkpoint_every,
    // batch_key (optional)
    val opts

    output:
    tuple val(meta), path("${prefix}/cells.h5ad"), emit: cells
    tuple val(meta), path("${prefix}/model.npz") , emit: model
    tuple val(meta), path("${prefix}")           , emit: outdir
    path "versions.yml"                          , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}"
    def fl     = h5ads instanceof Collection ? (h5ads as List) : [h5ads]
    def inputs = fl.collect { f -> "--h5ad ${f}" }.join(' ')
    def batch  = opts.batch_key ? "--batch-key ${opts.batch_key}" : ''
    """
    cellspace train \\
        --out ${prefix} \\
        ${inputs} \\
        ${batch} \\
        --dim ${opts.dim} \\
        --ngrams ${opts.ngrams} \\
        --k ${opts.k} \\
        --sample-len ${opts.sample_len} \\
        --examples-per-event ${opts.examples_per_event} \\
        --epochs ${opts.epochs} \\
        --margin ${opts.margin} \\
        --bucket ${opts.bucket} \\
        --lr ${opts.lr} \\
        --neg-search-limit ${opts.neg_search_limit} \\
        --max-neg-samples ${opts.max_neg_samples} \\
        --init-sd ${opts.init_sd} \\
        --batch-size ${opts.batch_size} \\
        --checkpoint-every ${opts.checkpoint_every} \\
        --seed ${opts.seed} \\
        --threads ${task.cpus} \\
        --progress no \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    mkdir -p ${prefix}
    touch ${prefix}/cells.h5ad ${prefix}/model.npz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
