process SELECT_FEATURES {
    tag "$meta.id"
    label 'process_low'
    container 'cellspace:0.1.0'

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')
    val n_features

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}.selected"
    """
    select_features.py \\
        --h5ad ${h5ad} \\
        --out ${prefix}.h5ad \\
        --n-features ${n_features} \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}.selected"
    """
    touch ${prefix}.h5ad

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
    END_VERSIONS
    """
}
