"""Every word of the index report in English and 简体中文, keyed by a stable message id.

Kept apart from the Babel catalog the rest of the app uses, so the report can be worked on without
editing the shared .po files; the active locale still comes from Flask-Babel. Engine warnings are keyed by
the model's stable warning codes and each carries what to do about it.
"""
from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # page furniture
    "report": ("Index report", "满意度指数报告"),
    "all_waves": ("All waves", "全部调查期"),
    "wave": ("Wave", "调查期"),
    "wave_n": ("Wave {n}", "第 {n} 期"),
    "segment": ("Segment", "细分"),
    "all_respondents": ("All respondents", "全部受访者"),
    "show": ("Show", "显示"),
    "back_to_survey": ("Back to the survey", "返回问卷"),
    "exports": ("Downloads", "下载"),
    "export_json": ("Full result (JSON, same as the command line)", "完整结果（JSON，与命令行一致）"),
    "export_estimates": ("Estimates and scores (CSV)", "估计值与得分（CSV）"),
    "export_scores": ("Construct scores per respondent (CSV)", "每位受访者的构念得分（CSV）"),
    "export_print": ("Printable version / PDF", "打印版 / PDF"),
    "print_hint": ("Use your browser's Print command to save it as PDF.", "可使用浏览器的“打印”功能另存为 PDF。"),
    "upload_data": ("Bring your own data", "导入外部数据"),
    "reason_missing_answer": ("a “don't know” or missing answer", "含“不知道”或缺失回答"),
    "reason_no_answer": ("no rated item answered", "没有回答任何评分题"),
    "generated": ("Report on {n} responses, generated {at}", "基于 {n} 份答卷，生成于 {at}"),
    "stale": ("Updated {seconds} s ago; {new} new responses since.", "{seconds} 秒前更新；此后新增 {new} 份答卷。"),
    "refreshing": ("Refreshing — reload in a moment.", "正在更新，请稍后刷新页面。"),
    # headline
    "headline": ("Customer satisfaction index", "顾客满意度指数"),
    "ci95": ("95% confidence interval {lo}–{hi}", "95% 置信区间 {lo}–{hi}"),
    "n_used": ("{n} responses used", "采用 {n} 份答卷"),
    "n_dropped": ("{n} left out ({why})", "剔除 {n} 份（{why}）"),
    "change_vs": ("{change:+.1f} points vs wave {prev}", "较第 {prev} 期 {change:+.1f} 分"),
    "change_sig": ("statistically significant (p = {p})", "具有统计显著性（p = {p}）"),
    "change_not_sig": ("not statistically significant (p = {p}); could be chance",
                       "不具有统计显著性（p = {p}），可能是随机波动"),
    "no_previous_wave": ("No earlier wave to compare with.", "没有可比较的上一期。"),
    # constructs and scores
    "scores": ("Construct scores (0–100)", "构念得分（0–100）"),
    "construct": ("Construct", "构念"),
    "score": ("Score", "得分"),
    "item": ("Item", "题项"),
    "items": ("Item scores", "题项得分"),
    "n": ("n", "样本数"),
    "ci": ("95% CI", "95% 置信区间"),
    "weight": ("Weight", "权重"),
    # satisfaction levels, complaints, intent
    "levels": ("How customers experienced it", "顾客的实际体验"),
    "levels_note": ("Per respondent: perceived quality minus expectations on the answer scale; more than half a "
                    "point below is “fell short”, more than half a point above is “exceeded”.",
                    "按受访者计算：感知质量均值减去期望均值（原始量表）；低于 0.5 分以上为“未达期望”，"
                    "高于 0.5 分以上为“超出期望”，其余为“符合期望”。"),
    "level_short": ("Fell short of expectations (dissatisfied)", "未达期望（不满意）"),
    "level_matched": ("Matched expectations (satisfied)", "符合期望（满意）"),
    "level_exceeded": ("Exceeded expectations (highly satisfied)", "超出期望（非常满意）"),
    "complaints": ("Complaints", "抱怨与投诉"),
    "complaint_rate": ("Complained", "曾投诉"),
    "complaint_rate_dissatisfied": ("Complained, among the dissatisfied", "不满意顾客中的投诉比例"),
    "complaint_handling": ("Complaint handling score (0–100)", "投诉处理得分（0–100）"),
    "handled_well": ("rated handling 8–10", "对处理评分 8–10 分"),
    "complaint_causes": ("Causes of dissatisfaction", "不满的原因"),
    "cause_organisation": ("The organisation", "组织"),
    "cause_effectiveness": ("Effectiveness of the product or service", "产品或服务的有效性"),
    "cause_quality": ("Quality of the product or service", "产品或服务的质量"),
    "cause_employee": ("An individual employee", "个别员工"),
    "cause_systems": ("Systems or procedures", "系统或流程"),
    "intent": ("Repurchase and recommendation", "再购买与推荐意愿"),
    "likely": ("likely (8–10)", "可能（8–10 分）"),
    "intent_CL1": ("Would buy again", "再次购买意愿"),
    "intent_CL2": ("Would recommend", "推荐意愿"),
    "of_n": ("of {n}", "共 {n} 人"),
    "none_yet": ("No answers yet.", "暂无回答。"),
    # model
    "path_model": ("The model: what drives satisfaction and loyalty", "模型：驱动满意度与忠诚度的因素"),
    "path_note": ("Arrows show standardized effects. Solid blue: statistically significant (p < .05); dashed "
                  "grey: not significant. R² is the share of a construct explained by the arrows into it.",
                  "箭头上的数字为标准化路径系数。蓝色实线：显著（p < .05）；灰色虚线：不显著。"
                  "R² 表示该构念被指向它的因素解释的比例。"),
    "legend_sig": ("significant (p < .05)", "显著（p < .05）"),
    "legend_ns": ("not significant (p ≥ .05)", "不显著（p ≥ .05）"),
    "path_table": ("The arrows as a table", "路径系数表"),
    "path": ("Path", "路径"),
    "std_coef": ("Standardized", "标准化系数"),
    "significant": ("Significant", "显著"),
    "drivers": ("Drivers", "驱动因素"),
    "drivers_note": ("Impact: points gained on the target's 0–100 score if the driver's score rose by 5 points.",
                     "影响力：驱动因素得分提高 5 分时，目标得分（0–100）预计提高的分数。"),
    "driver": ("Driver", "驱动因素"),
    "target": ("On", "作用于"),
    "direct": ("Direct", "直接效应"),
    "indirect": ("Indirect", "间接效应"),
    "total": ("Total", "总效应"),
    "impact": ("Impact (5-point rule)", "影响力（5 分法则）"),
    "ipma": ("Importance–performance", "重要性–绩效分析"),
    "ipma_x": ("Performance (score 0–100)", "绩效（得分 0–100）"),
    "ipma_y": ("Importance (total effect on satisfaction)", "重要性（对满意度的总效应）"),
    "q_improve": ("Improve first", "优先改进"),
    "q_keep": ("Keep up the good work", "继续保持"),
    "q_low": ("Low priority", "次要改进"),
    "q_overkill": ("Possible overkill", "可能过度投入"),
    "improve_first": ("What to improve first", "优先改进事项"),
    "priority_line": ("{item}: score {score}, impact {impact}: {level}", "{item}：得分 {score}，影响力 {impact}：{level}"),
    "priority_top": ("top priority", "最优先"),
    "priority_high": ("high priority", "高优先"),
    "priority_medium": ("medium priority", "中等优先"),
    "priority_low": ("low priority", "低优先"),
    # quality panel
    "quality": ("Can these numbers be trusted?", "这些数字可信吗？"),
    "fit": ("Model fit", "模型拟合"),
    "index_col": ("Index", "指标"),
    "value": ("Value", "数值"),
    "threshold": ("Threshold", "标准"),
    "chi2_p": ("χ² test, p", "χ² 检验 p 值"),
    "verdict": ("Verdict", "结论"),
    "ok": ("OK", "合格"),
    "not_ok": ("Check", "需注意"),
    "reliability": ("Reliability and validity", "信度与效度"),
    "alpha": ("Cronbach's α", "Cronbach's α"),
    "cr": ("Composite reliability", "组合信度"),
    "ave": ("AVE", "平均方差抽取量"),
    "r2": ("R²", "R²"),
    "discriminant_ok": ("Constructs are distinct from each other (discriminant validity holds).",
                        "各构念之间区分良好（区分效度成立）。"),
    "discriminant_bad": ("Some constructs overlap (discriminant validity is doubtful); see the warnings.",
                         "部分构念重叠（区分效度存疑），见下方警告。"),
    "warnings": ("Warnings", "警告"),
    "no_warnings": ("No warnings: the model converged and passes its checks.", "无警告：模型已收敛并通过各项检验。"),
    "what_to_do": ("What to do", "建议"),
    "converged": ("converged", "已收敛"),
    # segments, trend, comments
    "segments": ("Segments", "细分群体比较"),
    "segment_note": ("Satisfaction index per group with 95% confidence interval. Groups with fewer than {n} "
                     "responses are not reported.", "各群体的满意度指数及 95% 置信区间。少于 {n} 份答卷的群体不予报告。"),
    "suppressed": ("fewer than {n} responses", "少于 {n} 份答卷"),
    "trend": ("Trend across waves", "各期趋势"),
    "trend_note": ("Scores per wave use the weights of the model shown above, so waves are comparable.",
                   "各期得分使用上方模型的权重计算，各期之间可比。"),
    "comments": ("Open comments", "开放式意见"),
    "band_all": ("All", "全部"),
    "band_low": ("Dissatisfied (satisfaction < 60)", "不满意（满意度 < 60）"),
    "band_mid": ("In between (60–79)", "一般（60–79）"),
    "band_high": ("Satisfied (80+)", "满意（80 以上）"),
    "no_comments": ("No comments in this band.", "该区间暂无意见。"),
    # states
    "too_few_title": ("Not enough responses for the model yet", "答卷数量尚不足以估计模型"),
    "too_few": ("The model needs {min} responses with rated answers; there are {n}. {more} more are needed. "
                "Until then, here are the plain average scores.",
                "模型需要 {min} 份含评分回答的答卷，目前有 {n} 份，还需 {more} 份。在此之前，下面显示简单平均得分。"),
    "fit_failed": ("The model could not be estimated on these data: {error}", "无法基于这些数据估计模型：{error}"),
    "descriptive": ("Average scores (equal weights)", "平均得分（等权重）"),
    "pending_title": ("Computing the report…", "正在计算报告……"),
    "pending": ("The model is being estimated on {n} responses. This page refreshes by itself; it usually "
                "takes a few seconds.", "正在基于 {n} 份答卷估计模型。本页面会自动刷新，通常只需几秒钟。"),
    "elapsed": ("Running for {s} s.", "已运行 {s} 秒。"),
    "refresh_now": ("Refresh now", "立即刷新"),
    "no_responses": ("No responses yet.", "尚无答卷。"),
    "bad_segment": ("Unknown segment “{segment}”; showing all respondents.", "未知细分“{segment}”，已显示全部受访者。"),
    "bad_wave": ("Unknown wave; showing all waves.", "未知调查期，已显示全部调查期。"),
    # upload
    "upload_title": ("Bring your own data", "导入外部数据"),
    "upload_intro": ("Upload a CSV or Excel file exported from another survey tool: one row per respondent, one "
                     "column per question, answers as numbers on the scale below. You will map the columns on "
                     "the next page.", "上传从其他问卷工具导出的 CSV 或 Excel 文件：每行一位受访者，每列一道题，"
                     "答案为下述量表上的数字。下一页将让您把各列对应到构念。"),
    "upload_file": ("File (.csv or .xlsx)", "文件（.csv 或 .xlsx）"),
    "upload_name": ("Name for the imported survey", "导入问卷的名称"),
    "scale_min": ("Scale minimum", "量表最小值"),
    "scale_max": ("Scale maximum", "量表最大值"),
    "upload_next": ("Upload and map columns", "上传并对应列"),
    "map_title": ("Map columns to constructs", "将列对应到构念"),
    "map_intro": ("Columns named like CE1, PQ2 … are pre-filled. Every construct needs at least one column. "
                  "Nothing is stored until the whole file passes the checks.",
                  "形如 CE1、PQ2 的列已自动对应。每个构念至少需要一列。整个文件通过检查后才会保存。"),
    "column": ("Column", "列"),
    "sample_values": ("First values", "示例值"),
    "use_as": ("Use as", "用作"),
    "ignore": ("Ignore", "忽略"),
    "as_segment": ("Segment (group respondents by it)", "细分变量（按此分组）"),
    "as_comment": ("Open comment", "开放式意见"),
    "as_wave": ("Wave number", "调查期编号"),
    "import": ("Import and open the report", "导入并打开报告"),
    "upload_errors": ("The file was not imported. Fix these problems and upload it again:",
                      "文件未导入。请修正以下问题后重新上传："),
    "more_errors": ("… and {n} more problems.", "……另有 {n} 处问题。"),
    "err_no_file": ("Choose a file to upload.", "请选择要上传的文件。"),
    "err_name": ("Give the imported survey a name.", "请填写导入问卷的名称。"),
    "err_scale": ("The scale maximum must be above the minimum.", "量表最大值必须大于最小值。"),
    "err_upload_gone": ("The uploaded file has expired; upload it again.", "上传的文件已过期，请重新上传。"),
    "err_construct_empty": ("Construct {code} has no column; map at least one.", "构念 {code} 没有对应列，请至少对应一列。"),
    "err_not_number": ("Column “{column}”, row {row}: “{value}” is not a number.",
                       "列“{column}”第 {row} 行：“{value}”不是数字。"),
    "err_out_of_scale": ("Column “{column}”, row {row}: {value} is outside the scale {lo}–{hi}.",
                         "列“{column}”第 {row} 行：{value} 超出量表范围 {lo}–{hi}。"),
    "err_not_whole": ("Column “{column}”, row {row}: {value} is not a whole number.",
                      "列“{column}”第 {row} 行：{value} 不是整数。"),
    "err_read": ("The file could not be read: {error}", "无法读取文件：{error}"),
    "err_wave": ("Column “{column}”, row {row}: wave “{value}” must be a whole number ≥ 1.",
                 "列“{column}”第 {row} 行：调查期“{value}”必须是不小于 1 的整数。"),
    "imported": ("Imported {n} responses.", "已导入 {n} 份答卷。"),
}

# Short names of the standard template items, used while a survey keeps the template wording.
ITEM_NAMES: dict[str, tuple[str, str]] = {
    "CE1": ("Expected overall quality", "对总体质量的期望"),
    "CE2": ("Expected reliability", "对可靠性的期望"),
    "CE3": ("Expected fit to personal needs", "对满足个人需求的期望"),
    "PQ1": ("Overall quality", "总体质量"),
    "PQ2": ("Reliability", "可靠性"),
    "PQ3": ("Meeting personal needs", "满足个人需求"),
    "PV1": ("Quality for the price paid", "价格下的质量"),
    "PV2": ("Price for the quality received", "质量下的价格"),
    "CS1": ("Overall satisfaction", "总体满意度"),
    "CS2": ("Against expectations", "与期望相比"),
    "CS3": ("Closeness to the ideal", "与理想的接近程度"),
    "CC1": ("Expressed dissatisfaction", "表达不满的程度"),
    "CL1": ("Would buy again", "再次购买意愿"),
    "CL2": ("Would recommend", "推荐意愿"),
}

# Engine warnings: (plain-language meaning, what to do) per stable warning code.
WARNINGS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "small_sample": (
        ("The sample is small for this model, so estimates are unstable.", "样本量对该模型而言偏小，估计结果不稳定。"),
        ("Collect more responses (200 or more is comfortable) before acting on the drivers.",
         "在依据驱动因素采取行动之前，请收集更多答卷（200 份以上较为稳妥）。")),
    "not_converged": (
        ("The estimation did not converge: the numbers below may be wrong.", "模型估计未收敛，下列数字可能不正确。"),
        ("Check items that are nearly identical or that almost everyone answers the same way; drop or merge them, "
         "or collect more responses.", "检查几乎相同或几乎所有人回答一致的题项，删除或合并它们，或收集更多答卷。")),
    "heywood": (
        ("A variance came out negative (a Heywood case): the model does not suit these data well.",
         "出现负方差（Heywood 现象），模型与数据不太匹配。"),
        ("Look for a construct with one or two very highly correlated items; drop one item or collect more "
         "responses.", "查找只有一两个高度相关题项的构念，删除其中一个题项或收集更多答卷。")),
    "poor_fit": (
        ("The model fits the data poorly on at least one index.", "至少有一项拟合指标显示模型拟合较差。"),
        ("Read driver results with caution; check item wording and whether each item belongs to its construct.",
         "请谨慎解读驱动因素结果；检查题项措辞以及各题项是否属于其构念。")),
    "low_reliability": (
        ("At least one construct is measured unreliably (its items do not agree).",
         "至少有一个构念的测量信度偏低（其题项之间不一致）。"),
        ("Review that construct's items: reword or replace the one that disagrees with the others.",
         "检查该构念的题项：改写或替换与其他题项不一致的那一项。")),
    "discriminant_validity": (
        ("Two constructs are hard to tell apart in these answers.", "在这些回答中，有两个构念难以区分。"),
        ("Customers may see the questions as the same thing; make the wording of the two constructs more distinct.",
         "顾客可能把这些问题视为同一件事；请让两个构念的题项措辞更有区别。")),
    "many_dropped": (
        ("Many responses have a “don't know” or missing answer and were left out of the model.",
         "许多答卷含有“不知道”或缺失的回答，未纳入模型。"),
        ("The model describes customers who answered every question. Check which items get many “don't know” "
         "answers and consider rewording or dropping them.",
         "模型只反映回答了所有题目的顾客。请检查哪些题项“不知道”较多，考虑改写或删除。")),
    "fit_index_undefined": (
        ("Some fit indices could not be computed for this model.", "部分拟合指标无法针对该模型计算。"),
        ("Judge the fit by the indices that are shown.", "请依据已显示的指标判断拟合情况。")),
    "equal_weights": (
        ("For some constructs the model's item weights were unusable, so their items count equally.",
         "部分构念的模型权重不可用，其题项按等权重计算。"),
        ("Scores are still valid averages; check those constructs' items for weak or reversed questions.",
         "得分仍为有效的平均值；请检查这些构念中是否有较弱或反向的题目。")),
}
UNKNOWN_WARNING = (("The engine reported a problem.", "模型引擎报告了一个问题。"),
                   ("Read the technical message and check the data.", "请阅读技术信息并检查数据。"))

VERDICTS = {"good": ("good", "良好"), "acceptable": ("acceptable", "可接受"), "poor": ("poor", "较差"),
            "mediocre": ("mediocre", "一般"), "excellent": ("excellent", "优秀")}


def is_zh(locale=None) -> bool:
    """True when the active (or given) locale is Chinese."""
    if locale is None:
        try:
            from flask_babel import get_locale
            locale = get_locale()
        except (ImportError, RuntimeError, KeyError):
            locale = None
    return str(locale or "en").lower().startswith("zh")


def t(msg_id: str, locale=None, **fields) -> str:
    """Return the message in the active locale, formatted with fields; unknown ids come back as the id."""
    pair = MESSAGES.get(msg_id)
    if pair is None:
        return msg_id
    text = pair[1] if is_zh(locale) else pair[0]
    return text.format(**fields) if fields else text


def warning_text(code: str, locale=None) -> tuple[str, str]:
    """(meaning, what to do) for an engine warning code in the active locale."""
    meaning, todo = WARNINGS.get(code, UNKNOWN_WARNING)
    k = 1 if is_zh(locale) else 0
    return meaning[k], todo[k]


def verdict_text(verdict: str, locale=None) -> str:
    """Translate an engine verdict word (good / acceptable / poor …); unknown words pass through."""
    pair = VERDICTS.get(str(verdict).lower())
    if pair is None:
        return str(verdict)
    return pair[1] if is_zh(locale) else pair[0]


def construct_name(code: str, construct: dict | None = None, locale=None) -> str:
    """Construct name from the result (name_en / name_zh), falling back to the code."""
    construct = construct or {}
    return (construct.get("name_zh") if is_zh(locale) else construct.get("name_en")) or code
