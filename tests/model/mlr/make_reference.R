# lavaan estimator = "MLR" reference for tests/model/mlr (the tests need no R: commit the output).
# Regenerate from the repo root:
#   .venv/bin/python tests/model/mlr/make_data.py && Rscript tests/model/mlr/make_reference.R
# Model syntax exactly as tests/model/lavaan/make_reference.R.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })

here <- "tests/model/mlr"
out_file <- file.path(here, "reference.json")
codes <- c("CE", "PQ", "PV", "CS", "CC", "CL")
structural <- c("PQ ~ CE", "PV ~ CE + PQ", "CS ~ CE + PQ + PV", "CC ~ CS", "CL ~ CS + CC")

model_syntax <- function(spec) {
  meas <- vapply(codes, function(code) {
    items <- spec[[code]]
    if (length(items) == 1) {
      paste0(code, " =~ 1*", items, "\n", items, " ~~ 0*", items)
    } else {
      paste0(code, " =~ ", paste(items, collapse = " + "))
    }
  }, "")
  paste(c(meas, structural), collapse = "\n")
}

fm_names <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "chisq.scaling.factor", "pvalue.scaled",
              "baseline.chisq", "baseline.chisq.scaled", "baseline.chisq.scaling.factor",
              "cfi", "tli", "rmsea", "cfi.scaled", "tli.scaled", "rmsea.scaled",
              "cfi.robust", "tli.robust", "rmsea.robust", "scaling.factor.h1", "scaling.factor.h0")

reference <- function(entry) {
  raw <- read.csv(file.path(here, "data", entry$file), check.names = FALSE)
  items <- unlist(entry$items, use.names = FALSE)
  raw <- raw[, items]
  syntax <- model_syntax(entry$items)
  caught <- character(0)
  fit <- withCallingHandlers({
    if (entry$missing == "ml") {
      sem(syntax, data = raw, estimator = "MLR", missing = "ml", fixed.x = FALSE)
    } else {
      sem(syntax, data = raw, estimator = "MLR")
    }
  }, warning = function(w) { caught <<- c(caught, conditionMessage(w)); invokeRestart("muffleWarning") })
  fm_all <- withCallingHandlers(fitMeasures(fit),
    warning = function(w) { caught <<- c(caught, conditionMessage(w)); invokeRestart("muffleWarning") })
  fm <- as.list(unname(fm_all[fm_names])); names(fm) <- fm_names
  pe <- parameterEstimates(fit)
  opts <- lavInspect(fit, "options")
  list(
    file = entry$file, missing = entry$missing, model = syntax,
    nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"),
    options = list(information = opts$information, h1.information = opts$h1.information,
                   observed.information = opts$observed.information, se = opts$se, test = opts$test,
                   meanstructure = opts$meanstructure),
    parameters = pe[, c("lhs", "op", "rhs", "est", "se", "z", "pvalue")],
    fit_measures = fm, warnings = I(caught)
  )
}

manifest <- fromJSON(file.path(here, "manifest.json"), simplifyVector = FALSE)
for (name in names(manifest)) {
  manifest[[name]]$items <- lapply(manifest[[name]]$items[codes], unlist)
}
out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  r_version = R.version.string,
  notes = c(
    "sem(model, data, estimator='MLR') (listwise) or sem(..., estimator='MLR', missing='ml', fixed.x=FALSE) (FIML).",
    "MLR = se 'robust.huber.white' (observed information, Hessian; structured h1) + test 'yuan.bentler.mplus'.",
    "Complete data: meanstructure FALSE; FIML: intercepts free. cfi/tli/rmsea.robust: Brosseau-Liard & Savalei (complete data), FIML-corrected V3 (missing='ml').",
    "parameters: parameterEstimates(fit); null = NA."
  ),
  datasets = lapply(manifest, reference)
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, dataframe = "rows", na = "null", pretty = TRUE)
cat("wrote", out_file, "\n")
