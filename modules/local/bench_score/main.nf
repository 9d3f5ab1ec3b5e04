process BENCH_SCORE {
    tag "$meta.id"
    label 'process_medium'
    container 'cellspace:0.1.0'

    input:
    // h5ad with obsm["X_<method>"] (from BENCH_RUN_METHOD)
    tuple val(meta), path(h5ad), val(method)
    // label_key, batch_key (optional), seed
    val opts

    output:
    tuple val(meta), path("${prefix}.scores.tsv"), val(method), emit: scores
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    def batch = opts.batch_key ? "--batch-key ${opts.batch_key}" : ''
    """
    bench_score.py \\
        --h5ad ${h5ad} \\
        --methods ${method} \\
        --label-key ${opts.label_key} \\
        --seed ${opts.seed} \\
        --out ${prefix}.scores.tsv \\
        ${batch} \\
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
    touch ${prefix}.scores.tsv


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
