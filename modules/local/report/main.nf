process REPORT {
    tag "$meta.id"
    label 'process_single'
    container 'cellspace:0.1.0'

    input:
    // the training folder (cells.h5ad, training_log.tsv) of the run
    tuple val(meta), path(train, stageAs: 'train/*')
    // prepared datasets; the folders of ANALYZE, MOTIFS, DENOVO and the merged benchmark
    // folders, each [] when that step did not run; software_versions.yml
    path prepared , stageAs: 'prepared/*'
    path analyze  , stageAs: 'analyze/*'
    path motifs   , stageAs: 'motifs/*'
    path denovo   , stageAs: 'denovo/*'
    path benchmark, stageAs: 'benchmark/*'
    path versions_yml

    output:
    tuple val(meta), path("${prefix}.html"), emit: html
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args  = task.ext.args ?: ''
    prefix    = task.ext.prefix ?: 'report'
    def ana   = analyze   ? "--analyze ${analyze}" : ''
    def mot   = motifs    ? "--motifs ${motifs}" : ''
    def den   = denovo    ? "--denovo ${denovo}" : ''
    def bench = benchmark ? "--benchmark ${(benchmark instanceof Collection ? benchmark : [benchmark]).join(' ')}" : ''
    def prep  = (prepared instanceof Collection ? prepared : [prepared]).join(' ')
    """
    report.py \\
        --out ${prefix}.html \\
        --train ${train} \\
        --prepared ${prep} \\
        --versions ${versions_yml} \\
        ${ana} \\
        ${mot} \\
        ${den} \\
        ${bench} \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: 'report'
    """
    touch ${prefix}.html

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
