process INTEGRATE {
    tag "$meta.id"
    label 'process_medium'
    container 'cellspace:0.1.0'

    input:
    tuple val(meta), path(model), path(cells)
    // batch_key, reference (a value of batch_key), label_key (optional)
    val opts

    output:
    tuple val(meta), path("${prefix}.h5ad")       , emit: cells
    tuple val(meta), path("${prefix}.anchors.tsv"), emit: anchors
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    def label = opts.label_key ? "--label-key ${opts.label_key}" : ''
    """
    integrate.py \\
        --cells ${cells} \\
        --model ${model} \\
        --batch-key ${opts.batch_key} \\
        --reference ${opts.reference} \\
        --out ${prefix}.h5ad \\
        --anchors ${prefix}.anchors.tsv \\
        ${label} \\
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
    touch ${prefix}.h5ad ${prefix}.anchors.tsv


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
