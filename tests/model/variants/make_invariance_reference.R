# lavaan group.equal reference for the ECSI and CCSI two-group sets (test_variants.py).
# Regenerate from the repo root:  Rscript tests/model/variants/make_invariance_reference.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
dir <- "tests/model/variants"
structural <- list(
  ecsi = c("CE ~ IM", "PQ ~ CE", "PV ~ CE + PQ", "CS ~ IM + CE + PQ + PV", "CC ~ CS", "CL ~ IM + CS + CC"),
  ccsi = c("CE ~ IM", "PQ ~ CE", "PV ~ CE + PQ", "CS ~ IM + CE + PQ + PV", "CL ~ IM + CS"))
codes <- list(ecsi = c("IM", "CE", "PQ", "PV", "CS", "CC", "CL"), ccsi = c("IM", "CE", "PQ", "PV", "CS", "CL"))
measures <- c("chisq", "df", "cfi", "tli", "rmsea", "npar")
out <- list(lavaan_version = as.character(packageVersion("lavaan")), datasets = list())
for (v in names(structural)) {
  raw <- read.csv(file.path(dir, paste0(v, "_groups.csv")), check.names = FALSE)
  cols <- setdiff(names(raw), "group")
  meas <- vapply(codes[[v]], function(code) paste0(code, " =~ ", paste(cols[grepl(paste0("^", code, "[0-9]+$"), cols)],
                                                                      collapse = " + ")), "")
  syntax <- paste(c(meas, structural[[v]]), collapse = "\n")
  labels <- sort(unique(raw$group))
  run <- function(equal) {
    args <- list(syntax, data = raw, group = "group", group.label = labels, meanstructure = TRUE, estimator = "ML")
    if (length(equal)) args$group.equal <- equal
    fit <- do.call("sem", args)
    m <- fitMeasures(fit, measures)
    c(as.list(setNames(unname(m), measures)), converged = lavInspect(fit, "converged"))
  }
  out$datasets[[v]] <- list(file = paste0(v, "_groups.csv"), variant = v, model = syntax,
                            configural = run(character(0)), metric = run("loadings"),
                            scalar = run(c("loadings", "intercepts")))
}
write_json(out, file.path(dir, "invariance_reference.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote invariance_reference.json\n")
