#!/usr/bin/env nextflow
/*
 * cellspace-nf: sequence-informed embedding of single-cell ATAC-seq (CellSpace).
 *
 *   nextflow run . -profile test,local --outdir results
 *   nextflow run . --input samplesheet.csv --outdir results -profile docker
 *   nextflow run . --help
 */

nextflow.enable.dsl = 2

include { CELLSPACE               } from './workflows/cellspace'
include { PIPELINE_INITIALISATION } from './subworkflows/local/utils_cellspace'
include { PIPELINE_COMPLETION     } from './subworkflows/local/utils_cellspace'
include { paramsHelp              } from './subworkflows/local/utils_cellspace'

workflow {
    if (params.help) {
        log.info(paramsHelp("${projectDir}/nextflow_schema.json",
            "nextflow run ${projectDir} --input samplesheet.csv --outdir results -profile <docker|singularity|local|...>"))
        return
    }
    if (params.version) {
        log.info("${workflow.manifest.name} ${workflow.manifest.version}")
        return
    }

    PIPELINE_INITIALISATION(params.input)
    CELLSPACE(PIPELINE_INITIALISATION.out.samplesheet, PIPELINE_INITIALISATION.out.query)
    PIPELINE_COMPLETION()
}
