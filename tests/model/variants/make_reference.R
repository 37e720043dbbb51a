# lavaan reference numbers for the ECSI and CCSI variants (tests/model/variants/test_variants.py).
# Regenerate from the repo root:  Rscript tests/model/variants/make_reference.R
# The model text is written here from the published structures (model/README.md), not taken
# from the product; index, effects on the 0-100 metric and IPMA importance are computed here from
# lavaan's estimates with the formulas model/README.md and model/scores.py document.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })

dir <- "tests/model/variants"
variants <- list(
  ecsi = list(codes = c("IM", "CE", "PQ", "PV", "CS", "CC", "CL"),
              structural = c("CE ~ IM", "PQ ~ CE", "PV ~ CE + PQ", "CS ~ IM + CE + PQ + PV",
                             "CC ~ CS", "CL ~ IM + CS + CC")),
  ccsi = list(codes = c("IM", "CE", "PQ", "PV", "CS", "CL"),
              structural = c("CE ~ IM", "PQ ~ CE", "PV ~ CE + PQ", "CS ~ IM + CE + PQ + PV",
                             "CL ~ IM + CS"))
)
targets <- c("CS", "CL")
lo <- 1; hi <- 10

syntax_of <- function(spec, structural) {
  meas <- vapply(names(spec), function(code) {
    its <- spec[[code]]
    if (length(its) == 1) paste0(code, " =~ 1*", its, "\n", its, " ~~ 0*", its)
    else paste0(code, " =~ ", paste(its, collapse = " + "))
  }, "")
  paste(c(meas, structural), collapse = "\n")
}

upstream <- function(B, target) {
  found <- character(0); frontier <- target
  while (length(frontier)) {
    new <- unique(unlist(lapply(frontier, function(t) colnames(B)[B[t, ] != 0])))
    frontier <- setdiff(new, found); found <- c(found, frontier)
  }
  rownames(B)[rownames(B) %in% found]
}

reference <- function(variant, file, missing, estimator = "ML") {
  v <- variants[[variant]]
  raw <- read.csv(file.path(dir, file), check.names = FALSE)
  spec <- lapply(v$codes, function(code) names(raw)[grepl(paste0("^", code, "[0-9]+$"), names(raw))])
  names(spec) <- v$codes
  syntax <- syntax_of(spec, v$structural)
  fit <- if (missing == "ml") sem(syntax, data = raw, estimator = estimator, missing = "ml", fixed.x = FALSE)
         else sem(syntax, data = raw, estimator = estimator)
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- pe[, c("lhs", "op", "rhs", "est", "se", "z", "pvalue", "std.all")]
  fm_names <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "npar")
  if (estimator == "MLR") fm_names <- c(fm_names, "chisq.scaled", "chisq.scaling.factor", "cfi.robust",
                                         "tli.robust", "rmsea.robust")
  fm <- as.list(unname(fitMeasures(fit)[fm_names])); names(fm) <- fm_names
  est <- lavInspect(fit, "est")
  B <- est$beta[v$codes, v$codes]; L <- est$lambda[, v$codes]
  Bs <- lavInspect(fit, "std")$beta[v$codes, v$codes]
  total <- solve(diag(nrow(B)) - B) - diag(nrow(B)); dimnames(total) <- dimnames(B)
  total_std <- solve(diag(nrow(Bs)) - Bs) - diag(nrow(Bs)); dimnames(total_std) <- dimnames(Bs)
  # index: loadings normalized to sum 1, weighted item means on 0-100 (complete data here)
  means <- colMeans(raw[, unlist(spec)], na.rm = TRUE)
  index <- list(); units <- c()
  for (code in v$codes) {
    lam <- L[spec[[code]], code]; w <- lam / sum(lam)
    index[[code]] <- (sum(w * means[spec[[code]]]) - lo) / (hi - lo) * 100
    units[code] <- 100 * sum(w * lam) / (hi - lo)
  }
  effects <- list()
  for (to in targets) for (from in upstream(B, to)) {
    imp <- total[to, from] * units[[to]] / units[[from]]
    effects[[length(effects) + 1]] <- list(from = from, to = to, direct = B[to, from],
      total = total[to, from], std_total = total_std[to, from], total_index = imp, impact_5pt = 5 * imp)
  }
  list(variant = variant, file = file, missing = missing, estimator = estimator, model = syntax,
       nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"), parameters = pe,
       r2 = as.list(lavInspect(fit, "r2")), fit_measures = fm, index = if (missing == "ml") NULL else index,
       effects = effects, ipma_drivers = upstream(B, "CS"))
}

sets <- list()
for (variant in names(variants)) {
  for (kind in c("full", "small", "ceiling", "boot")) {
    sets[[paste0(variant, "_", kind)]] <- reference(variant, paste0(variant, "_", kind, ".csv"), "listwise")
  }
  sets[[paste0(variant, "_mar_ml")]] <- reference(variant, paste0(variant, "_mar.csv"), "ml")
  sets[[paste0(variant, "_full_mlr")]] <- reference(variant, paste0(variant, "_full.csv"), "listwise", "MLR")
  sets[[paste0(variant, "_mar_mlr")]] <- reference(variant, paste0(variant, "_mar.csv"), "ml", "MLR")
}
out <- list(lavaan_version = as.character(packageVersion("lavaan")), r_version = R.version.string,
            notes = c("sem() defaults, marker-item scaling; missing='ml' with fixed.x=FALSE for the MAR sets.",
                      "index/effects/ipma: complete-data sets only for index (MAR: null); weights = lambda/sum(lambda).",
                      "effects: total = (I-B)^-1 - I; total_index = total * units[to]/units[from], units = 100*sum(w*lambda)/(hi-lo)."),
            datasets = sets)
write_json(out, file.path(dir, "reference.json"), auto_unbox = TRUE, digits = NA, dataframe = "rows",
           na = "null", pretty = TRUE)
cat("wrote reference.json\n")
