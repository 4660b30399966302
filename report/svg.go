package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// bar is one bar of a chart; Note is its tooltip (an SVG <title>).
type bar struct {
	Label string
	Value float64
	Note  string
}

// Chart sizes, in SVG user units (the charts scale to their box's width).
const (
	chartWidth = 720
	axisLeft   = 64
	axisBottom = 44
	rowHeight  = 24
	labelWidth = 240
)

// columnChart draws bars upwards from a labelled axis, with four grid lines;
// value formats the axis and tooltips.
// width and height are in SVG user units.
func columnChart(name string, bars []bar, width, height int, value func(float64) string) template.HTML {
	var b strings.Builder
	plotW, plotH := float64(width-axisLeft-8), float64(height-axisBottom-12)
	top := niceCeil(maxValue(bars))
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d">`,
		template.HTMLEscapeString(name), width, height)
	for i := 0; i <= 4; i++ {
		y := 12 + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, axisLeft, width-8, y, y)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, axisLeft-6, y+4, template.HTMLEscapeString(value(top*float64(i)/4)))
	}
	step := plotW / float64(max(len(bars), 1))
	every := (len(bars) + 11) / 12 // at most about twelve labels under the axis
	for i, br := range bars {
		h := 0.0
		if top > 0 {
			h = plotH * br.Value / top
		}
		x := float64(axisLeft) + step*float64(i) + step*0.15
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			x, 12+plotH-h, step*0.7, h, template.HTMLEscapeString(br.Label+": "+br.Note))
		if i%every == 0 {
			fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%d" text-anchor="middle">%s</text>`,
				x+step*0.35, height-axisBottom+28, template.HTMLEscapeString(br.Label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barChart draws one horizontal bar per row, its label on the left and its
// value at its end.
func barChart(name string, bars []bar) template.HTML {
	var b strings.Builder
	height := rowHeight*len(bars) + 8
	plotW := float64(chartWidth - labelWidth - 160)
	top := maxValue(bars)
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d">`,
		template.HTMLEscapeString(name), chartWidth, height)
	for i, br := range bars {
		y := 4 + rowHeight*i
		w := 0.0
		if top > 0 {
			w = plotW * br.Value / top
		}
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, labelWidth-8, y+16, template.HTMLEscapeString(br.Label))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d"><title>%s</title></rect>`,
			labelWidth, y+3, w, rowHeight-6, template.HTMLEscapeString(br.Label+": "+br.Note))
		fmt.Fprintf(&b, `<text class="value" x="%.1f" y="%d">%s</text>`, float64(labelWidth)+w+6, y+16, template.HTMLEscapeString(br.Note))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func maxValue(bars []bar) float64 {
	m := 0.0
	for _, b := range bars {
		m = math.Max(m, b.Value)
	}
	return m
}

// niceCeil rounds v up to four times 1, 2, 2.5 or 5 times a power of ten,
// so that the axis ticks at quarters read as round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := v / 4
	p := math.Pow(10, math.Floor(math.Log10(step)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step <= m*p {
			return 4 * m * p
		}
	}
	return 40 * p
}
