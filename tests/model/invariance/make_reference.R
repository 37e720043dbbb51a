# lavaan + semTools reference for multi-group invariance (tests/model/test_invariance.py).
# Regenerate from the repo root:
#   .venv/bin/python tests/model/invariance/make_data.py
#   Rscript tests/model/invariance/make_reference.R
suppressPackageStartupMessages({ library(lavaan); library(semTools); library(jsonlite) })

dir <- "tests/model/invariance"
out_file <- file.path(dir, "reference.json")
codes <- c("CE", "PQ", "PV", "CS", "CC", "CL")
structural <- c("PQ ~ CE", "PV ~ CE + PQ", "CS ~ CE + PQ + PV", "CC ~ CS", "CL ~ CS + CC")
measures <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
              "baseline.chisq", "baseline.df", "npar")
DELTA_CFI <- 0.010; DELTA_RMSEA <- 0.015  # Chen (2007)

model_syntax <- function(spec) {
  meas <- vapply(codes, function(code) {
    items <- spec[[code]]
    if (length(items) == 1) paste0(code, " =~ 1*", items, "\n", items, " ~~ 0*", items)
    else paste0(code, " =~ ", paste(items, collapse = " + "))
  }, "")
  paste(c(meas, structural), collapse = "\n")
}

fm <- function(fit) { v <- fitMeasures(fit, measures); as.list(setNames(unname(v), measures)) }

holds <- function(cur, prev) (prev$cfi - cur$cfi) <= DELTA_CFI && (cur$rmsea - prev$rmsea) <= DELTA_RMSEA

latent_means <- function(fit, labels) {
  # model-implied latent means E[eta] = (I - B)^-1 alpha, as the Python side reports
  out <- list()
  for (g in seq_along(labels)) out[[labels[g]]] <- as.list(lavInspect(fit, "mean.lv")[[g]][codes])
  out
}

latent_intercepts <- function(fit, labels) {
  # the free latent intercepts alpha (groups 2..G) with their standard errors (expected information)
  pe <- parameterEstimates(fit)
  out <- list()
  for (g in seq_along(labels)[-1]) {
    rows <- pe[pe$op == "~1" & pe$lhs %in% codes & pe$group == g, ]
    out[[labels[g]]] <- setNames(lapply(seq_len(nrow(rows)), function(i) list(est = rows$est[i], se = rows$se[i])),
                                 rows$lhs)
  }
  out
}

reference <- function(file) {
  raw <- read.csv(file.path(dir, file), check.names = FALSE)
  raw$group <- as.character(raw$group)
  cols <- setdiff(names(raw), "group")
  spec <- lapply(codes, function(code) cols[grepl(paste0("^", code, "[0-9]+$"), cols)])
  names(spec) <- codes
  syntax <- model_syntax(spec)
  labels <- sort(unique(raw$group))
  run <- function(equal = "", partial = "") {
    args <- list(syntax, data = raw, group = "group", group.label = labels, meanstructure = TRUE,
                 estimator = "ML")
    if (any(equal != "")) args$group.equal <- equal
    if (any(partial != "")) args$group.partial <- partial
    do.call("sem", args)
  }
  caught <- character(0)  # lavaan's warnings on the three level fits
  fits <- withCallingHandlers(
    list(configural = run(), metric = run("loadings"), scalar = run(c("loadings", "intercepts"))),
    warning = function(w) { caught <<- c(caught, conditionMessage(w)); invokeRestart("muffleWarning") })
  cf <- compareFit(fits$configural, fits$metric, fits$scalar)
  levels <- lapply(fits, fm)
  nested <- cf@nested
  diffs <- cf@fit.diff
  for (k in 2:3) {
    lev <- names(fits)[k]
    levels[[lev]]$delta_chi2 <- nested[k, "Chisq diff"]
    levels[[lev]]$delta_df <- nested[k, "Df diff"]
    levels[[lev]]$p_value <- nested[k, "Pr(>Chisq)"]
    levels[[lev]]$delta_cfi <- diffs[k - 1, "cfi"]
    levels[[lev]]$delta_rmsea <- diffs[k - 1, "rmsea"]
  }
  conf <- levels$configural
  level <- if (conf$cfi < 0.90 || conf$rmsea > 0.08) "none"
           else if (!holds(levels$metric, conf)) "configural"
           else if (!holds(levels$scalar, levels$metric)) "metric" else "scalar"

  # likelihood-ratio test of each intercept constraint: free it alone (lavaan group.partial)
  item_tests <- list()
  for (code in codes) if (length(spec[[code]]) > 1) for (item in spec[[code]]) {
    f <- run(c("loadings", "intercepts"), paste0(item, " ~ 1"))
    item_tests[[item]] <- levels$scalar$chisq - fitMeasures(f, "chisq")[[1]]
  }
  ranked <- names(sort(unlist(item_tests), decreasing = TRUE))

  # partial scalar: free the worst intercepts one at a time (keeping >= 2 equal per construct)
  partial <- NULL
  if (level == "metric") {
    freed <- character(0)
    for (item in ranked) {
      code <- sub("[0-9]+$", "", item)
      if (length(setdiff(spec[[code]], freed)) - 1 < 2) next
      freed <- c(freed, item)
      f <- run(c("loadings", "intercepts"), paste0(freed, " ~ 1"))
      m <- fm(f)
      partial <- c(m, list(free_intercepts = I(freed), holds = holds(m, levels$metric),
                           latent_means = latent_means(f, labels),
                           latent_intercepts = latent_intercepts(f, labels)))
      if (partial$holds) break
    }
  }
  pe <- parameterEstimates(fits$metric)
  ld <- pe[pe$op == "=~" & pe$group == 1, ]
  list(file = file, groups = labels, n = as.list(setNames(lavInspect(fits$configural, "nobs"), labels)),
       levels = levels, level = level, item_tests = item_tests, partial = partial,
       metric_loadings = as.list(setNames(ld$est, ld$rhs)),
       latent_means = latent_means(fits$scalar, labels),
       latent_intercepts = latent_intercepts(fits$scalar, labels), lavaan_warnings = I(unique(caught)))
}

files <- sort(list.files(dir, pattern = "\\.csv$"))
out <- lapply(files, reference)
names(out) <- sub("\\.csv$", "", files)
meta <- list(lavaan = as.character(packageVersion("lavaan")),
             semTools = as.character(packageVersion("semTools")), R = R.version.string)
writeLines(toJSON(list(meta = meta, datasets = out), auto_unbox = TRUE, digits = 15, pretty = TRUE,
                  null = "null"), out_file)
cat("wrote", out_file, "\n")
