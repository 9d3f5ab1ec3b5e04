process EXPORT {
    tag "$meta.id"
    label 'process_single'
    container 'cellspace:0.1.0'

    input:
    // trained model (TRAIN_CELLSPACE.out.model)
    tuple val(meta), path(model)
    val format

    output:
    tuple val(meta), path("${prefix}.${format}"), emit: export
    path "versions.yml"                          , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    export.py \\
        --model ${model} \\
        --format ${format} \\
        --out ${prefix}.${format} \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.${format}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
    END_VERSIONS
    """
}
