# lavaan reference for the many-resamples check (tests/model/test_resamples.py).
# From the repo root:
#   .venv/bin/python tests/model/resamples/generate.py /tmp/resamples
#   Rscript tests/model/resamples/make_reference.R /tmp/resamples
# Model syntax exactly as tests/model/lavaan/make_reference.R (marker loadings, single item
# `X =~ 1*item` with `item ~~ 0*item`); complete data: sem() defaults (listwise);
# incomplete data: missing = "ml", fixed.x = FALSE, plus the saturated model's means and their
# sampling covariance (observed information, lavaan's default for missing = "ml").
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args)) args[1] else "/tmp/resamples"
out_file <- "tests/model/resamples/reference.json"
codes <- c("CE", "PQ", "PV", "CS", "CC", "CL")
structural <- c("PQ ~ CE", "PV ~ CE + PQ", "CS ~ CE + PQ + PV", "CC ~ CS", "CL ~ CS + CC")

model_syntax <- function(spec) {
  meas <- vapply(codes, function(code) {
    items <- spec[[code]]
    if (length(items) == 1) paste0(code, " =~ 1*", items, "\n", items, " ~~ 0*", items)
    else paste0(code, " =~ ", paste(items, collapse = " + "))
  }, "")
  paste(c(meas, structural), collapse = "\n")
}

saturated_syntax <- function(items) {
  rows <- c()
  for (i in seq_along(items)) for (j in i:length(items)) rows <- c(rows, paste(items[i], "~~", items[j]))
  c(rows, paste(items, "~ 1"))
}

index <- fromJSON(file.path(data_dir, "index.json"), simplifyVector = FALSE)
out <- list()
for (name in names(index)) {
  entry <- index[[name]]
  spec <- lapply(entry$items, unlist)[codes]
  raw <- read.csv(file.path(data_dir, paste0(name, ".csv")), check.names = FALSE)
  items <- unlist(spec, use.names = FALSE)
  raw <- raw[, items]
  syntax <- model_syntax(spec)
  ml <- entry$missing == "ml"
  warns <- character(0)
  fit <- withCallingHandlers(
    tryCatch(if (ml) sem(syntax, data = raw, estimator = "ML", missing = "ml", fixed.x = FALSE)
             else sem(syntax, data = raw, estimator = "ML"), error = function(e) NULL),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  row <- list(missing = entry$missing, fingerprint = entry$fingerprint, warnings = I(warns))
  if (is.null(fit)) { row$converged <- FALSE; out[[name]] <- row; next }
  converged <- lavInspect(fit, "converged")
  row$converged <- converged
  if (converged) {
    pe <- parameterEstimates(fit, standardized = TRUE)
    vars <- pe[pe$op == "~~" & pe$lhs == pe$rhs, ]
    free_vars <- vars[!is.na(vars$z), ]
    row$min_variance <- min(free_vars$est)
    row$proper <- all(free_vars$est >= 0) &&
      isTRUE(suppressWarnings(lavInspect(fit, "post.check")))
    fm <- fitMeasures(fit, c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "npar"))
    row$fit <- as.list(fm)
    reg <- pe[pe$op == "~", ]
    row$paths <- lapply(seq_len(nrow(reg)), function(i)
      list(from = reg$rhs[i], to = reg$lhs[i], est = reg$est[i], std = reg$std.all[i], se = reg$se[i]))
    lds <- pe[pe$op == "=~", ]
    row$loadings <- lapply(seq_len(nrow(lds)), function(i)
      list(construct = lds$lhs[i], item = lds$rhs[i], est = lds$est[i], std = lds$std.all[i]))
    row$r2 <- as.list(lavInspect(fit, "r2")[setdiff(codes, "CE")])
    row$nobs <- lavInspect(fit, "nobs")
  }
  if (ml) {  # saturated model: EM means and their sampling covariance
    sat <- lavaan(saturated_syntax(items), data = raw, missing = "ml", meanstructure = TRUE)
    spe <- parameterEstimates(sat)
    means <- spe[spe$op == "~1", ]
    row$h1_mean <- as.list(setNames(means$est, means$lhs))
    v <- vcov(sat)
    labels <- paste0(items, "~1")
    row$h1_mean_cov <- unname(v[labels, labels])
  }
  out[[name]] <- row
}
write_json(list(lavaan_version = as.character(packageVersion("lavaan")), r_version = R.version.string,
                datasets = out),
           out_file, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE)
cat("wrote", out_file, "with", length(out), "data sets\n")
