process DENOVO {
    tag "$meta.id"
    label 'process_medium'
    container 'cellspace:0.1.0'

    input:
    tuple val(meta), path(model), path(cells)

    output:
    tuple val(meta), path("${prefix}/denovo_motifs.tsv"), emit: motifs
    tuple val(meta), path("${prefix}")                  , emit: outdir
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"

    """
    denovo.py \\
        --model ${model} \\
        --cells ${cells} \\
        --out ${prefix} \\
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
    touch ${prefix}/denovo_motifs.tsv ${prefix}/denovo_motifs.meme ${prefix}/denovo_scores.h5ad


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
