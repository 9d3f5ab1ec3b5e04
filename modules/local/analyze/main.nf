process ANALYZE {
    tag "$meta.id"
    label 'process_medium'
    container 'cellspace:0.1.0'

    input:
    // motifs: motif_scores.h5ad of MOTIFS for the joint cells + motifs UMAP, or [] for none
    tuple val(meta), path(cells), path(motifs)

    output:
    tuple val(meta), path("${prefix}/cells.h5ad"), emit: cells
    tuple val(meta), path("${prefix}")           , emit: outdir
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    def mot  = motifs ? "--motifs ${motifs}" : ''
    """
    analyze.py \\
        --cells ${cells} \\
        --out ${prefix} \\
        ${mot} \\
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
    touch ${prefix}/cells.h5ad ${prefix}/clusters.tsv ${prefix}/umap.tsv


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
