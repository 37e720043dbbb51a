# lavaan 0.6.14 reference for the summary numbers (tests/model/summary; the tests need no R).
# Regenerate from the repo root:
#   .venv/bin/python tests/model/resamples/generate.py /tmp/resamples
#   Rscript tests/model/summary/make_reference.R /tmp/resamples
# Data sets: the lavaan reference sets (tests/model/lavaan, estimator ML) and the resample sets of
# tests/model/mlr (manifest.json, estimator MLR: robust SEs of the variances). Model syntax exactly
# as tests/model/lavaan/make_reference.R.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })

out_file <- "tests/model/summary/reference.json"
codes <- c("CE", "PQ", "PV", "CS", "CC", "CL")
structural <- c("PQ ~ CE", "PV ~ CE + PQ", "CS ~ CE + PQ + PV", "CC ~ CS", "CL ~ CS + CC")
fm_names <- c("npar", "logl", "unrestricted.logl", "aic", "bic", "bic2", "rmsea.pvalue", "chisq", "df")

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

prefix_spec <- function(cols) {
  spec <- lapply(codes, function(code) cols[grepl(paste0("^", code, "[0-9]+$"), cols)])
  names(spec) <- codes
  spec
}

reference <- function(path, spec, missing, estimator) {
  raw <- read.csv(path, check.names = FALSE)
  items <- unlist(spec, use.names = FALSE)
  raw <- raw[, items]
  syntax <- model_syntax(spec)
  fit <- if (missing == "ml") {
    sem(syntax, data = raw, estimator = estimator, missing = "ml", fixed.x = FALSE)
  } else {
    sem(syntax, data = raw, estimator = estimator)
  }
  fm <- fitMeasures(fit, fm_names)
  fm <- as.list(unname(fm)); names(fm) <- fm_names
  r2 <- lavInspect(fit, "r2")
  pe <- parameterEstimates(fit, standardized = TRUE)
  var <- pe[pe$op == "~~" & pe$lhs == pe$rhs, c("lhs", "est", "se", "z", "pvalue", "std.all")]
  list(
    file = path, missing = missing, estimator = estimator, items = lapply(spec, I), model = syntax,
    nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"),
    meanstructure = lavInspect(fit, "options")$meanstructure,
    fit_measures = fm,
    r2_items = as.list(r2[items]),
    variances = var
  )
}

lav_dir <- "tests/model/data"
std_spec <- prefix_spec(names(read.csv(file.path(lav_dir, "csi_multi.csv"))))
single_spec <- prefix_spec(names(read.csv(file.path(lav_dir, "csi_single_cc.csv"))))
custom_spec <- fromJSON(file.path(lav_dir, "csi_custom_names.map.json"))[codes]
sets <- list(
  csi_multi = reference(file.path(lav_dir, "csi_multi.csv"), std_spec, "listwise", "ML"),
  csi_single_cc = reference(file.path(lav_dir, "csi_single_cc.csv"), single_spec, "listwise", "ML"),
  csi_missing_listwise = reference(file.path(lav_dir, "csi_missing.csv"), single_spec, "listwise", "ML"),
  csi_missing_ml = reference(file.path(lav_dir, "csi_missing.csv"), single_spec, "ml", "ML"),
  csi_custom_names = reference(file.path(lav_dir, "csi_custom_names.csv"), custom_spec, "listwise", "ML")
)
mlr_dir <- "tests/model/mlr"
manifest <- fromJSON(file.path(mlr_dir, "manifest.json"), simplifyVector = FALSE)
for (name in names(manifest)) {
  entry <- manifest[[name]]
  spec <- lapply(entry$items[codes], unlist)
  sets[[paste0("mlr_", name)]] <- reference(file.path(mlr_dir, "data", entry$file), spec,
                                            entry$missing, "MLR")
}
# the many resamples of tests/model/resamples (bootstrap, subsamples, ceiling, halo, MAR; ML),
# every third one, keyed resample_<name>; file = the CSV name under tests/model/resamples' generator
args <- commandArgs(trailingOnly = TRUE)
res_dir <- if (length(args)) args[1] else "/tmp/resamples"
res_ref <- fromJSON("tests/model/resamples/reference.json", simplifyVector = FALSE)$datasets
res_index <- fromJSON(file.path(res_dir, "index.json"), simplifyVector = FALSE)
res_names <- names(res_ref)[seq(1, length(res_ref), by = 3)]
for (name in res_names) {
  spec <- lapply(res_index[[name]]$items[codes], unlist)
  entry <- reference(file.path(res_dir, paste0(name, ".csv")), spec, res_ref[[name]]$missing, "ML")
  entry$file <- paste0("resamples:", name)
  sets[[paste0("resample_", name)]] <- entry
}
out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  r_version = R.version.string,
  notes = c(
    "fitMeasures(fit, c('npar','logl','unrestricted.logl','aic','bic','bic2','rmsea.pvalue')); rmsea.pvalue: H0 RMSEA <= .05.",
    "Complete data (listwise): no mean structure, npar without intercepts; missing='ml': intercepts free, npar includes them, logl is the casewise FIML log-likelihood.",
    "r2_items: lavInspect(fit, 'r2') for the items (1 - std.all residual variance).",
    "variances: parameterEstimates(fit, standardized=TRUE) rows with op '~~' and lhs == rhs (items: error variances; constructs: CE variance, disturbances of the others); se null where fixed.",
    "mlr_* sets: estimator MLR (robust SEs), data and items from tests/model/mlr/manifest.json."
  ),
  datasets = sets
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, dataframe = "rows", na = "null", pretty = TRUE)
cat("wrote", out_file, "\n")
