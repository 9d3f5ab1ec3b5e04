process BENCH_RUN_METHOD {
    tag "$meta.id"
    label 'process_high'
    container 'cellspace:0.1.0'

    input:
    // one prepared dataset (cells x events, var["sequence"]) and one method name
    tuple val(meta), path(h5ad), val(method)
    // batch_key (optional), seed
    val opts

    output:
    tuple val(meta), path("${prefix}.h5ad")       , val(method), emit: h5ad
    tuple val(meta), path("${prefix}.timings.tsv"), val(method), emit: timings
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    def batch = opts.batch_key ? "--batch-key ${opts.batch_key}" : ''
    """
    export OMP_NUM_THREADS=${task.cpus} NUMBA_NUM_THREADS=${task.cpus}
    bench_run_method.py \\
        --h5ad ${h5ad} \\
        --out ${prefix}.h5ad \\
        --method ${method} \\
        --seed ${opts.seed} \\
        --timings ${prefix}.timings.tsv \\
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
    touch ${prefix}.h5ad ${prefix}.timings.tsv


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
