process BENCH_BOOTSTRAP {
    tag "$meta.id"
    label 'process_medium'
    container 'cellspace:0.1.0'

    input:
    // all method h5ads of one dataset, the trained cells.h5ad (adds X_cellspace) and a chunk index
    tuple val(meta), path(h5ads, stageAs: 'methods/*'), path(cells), val(chunk)
    // label_key, batch_key (optional), n_replicates (total), n_chunks, seed
    val opts

    output:
    tuple val(meta), path("${prefix}/chunk_*"), emit: chunk
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    def batch = opts.batch_key ? "--batch-key ${opts.batch_key}" : ''
    """
    bench_bootstrap.py \\
        --h5ad methods/* \\
        --cells ${cells} \\
        --label-key ${opts.label_key} \\
        --out ${prefix} \\
        --n-replicates ${opts.n_replicates} \\
        --chunk ${chunk} \\
        --n-chunks ${opts.n_chunks} \\
        --seed ${opts.seed} \\
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
    mkdir -p ${prefix}/chunk_${chunk}
    touch ${prefix}/chunk_${chunk}/meta.json


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
